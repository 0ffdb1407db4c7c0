// Parses a certificate with Go's crypto/x509 (a strict parser the service certificate profile must satisfy) and
// verifies it against a trust bundle for TLS server and client use. The Node tests run it and
// read the JSON it prints.
//
// Usage: verify <bundle.pem> <intermediates.pem> <leaf.pem> <unix seconds> [dns name]
package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strconv"
	"time"
)

type result struct {
	Parsed      bool     `json:"parsed"`
	ParseError  string   `json:"parseError,omitempty"`
	Subject     string   `json:"subject,omitempty"`
	URIs        []string `json:"uris"`
	DNSNames    []string `json:"dnsNames"`
	IPAddresses []string `json:"ipAddresses"`
	Emails      []string `json:"emails"`
	IsCA        bool     `json:"isCA"`
	KeyUsage    int      `json:"keyUsage"`
	SerialBits  int      `json:"serialBits"`
	ServerAuth  string   `json:"serverAuth"`
	ClientAuth  string   `json:"clientAuth"`
}

func certificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out, nil
		}
		certificate, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, certificate)
	}
}

func verify(leaf *x509.Certificate, roots, intermediates *x509.CertPool, at time.Time, usage x509.ExtKeyUsage, dnsName string) string {
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: dnsName})
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: verify <bundle.pem> <intermediates.pem> <leaf.pem> <unix seconds> [dns name]")
		os.Exit(2)
	}
	out := result{}
	defer func() {
		encoded, _ := json.Marshal(out)
		fmt.Println(string(encoded))
	}()
	leaves, err := certificates(os.Args[3])
	if err != nil || len(leaves) != 1 {
		out.ParseError = fmt.Sprint("leaf: ", err)
		return
	}
	leaf := leaves[0]
	out.Parsed = true
	out.Subject = leaf.Subject.String()
	for _, uri := range leaf.URIs {
		out.URIs = append(out.URIs, uri.String())
	}
	out.DNSNames = leaf.DNSNames
	for _, ip := range leaf.IPAddresses {
		out.IPAddresses = append(out.IPAddresses, ip.String())
	}
	out.Emails = leaf.EmailAddresses
	out.IsCA = leaf.IsCA
	out.KeyUsage = int(leaf.KeyUsage)
	out.SerialBits = leaf.SerialNumber.BitLen()

	roots := x509.NewCertPool()
	bundle, err := certificates(os.Args[1])
	if err != nil {
		out.ParseError = fmt.Sprint("bundle: ", err)
		return
	}
	for _, root := range bundle {
		roots.AddCert(root)
	}
	intermediates := x509.NewCertPool()
	chain, err := certificates(os.Args[2])
	if err != nil {
		out.ParseError = fmt.Sprint("intermediates: ", err)
		return
	}
	for _, intermediate := range chain {
		intermediates.AddCert(intermediate)
	}
	seconds, err := strconv.ParseInt(os.Args[4], 10, 64)
	if err != nil {
		out.ParseError = fmt.Sprint("time: ", err)
		return
	}
	dnsName := ""
	if len(os.Args) > 5 {
		dnsName = os.Args[5]
	}
	at := time.Unix(seconds, 0)
	out.ServerAuth = verify(leaf, roots, intermediates, at, x509.ExtKeyUsageServerAuth, dnsName)
	out.ClientAuth = verify(leaf, roots, intermediates, at, x509.ExtKeyUsageClientAuth, "")
}
