// The bootstrap admin credential's file name in the data dir: apart from admin/bootstrap.ts so
// that a cluster's primary can say where it is without loading the store.
export const BOOTSTRAP_FILE = 'bootstrap-admin.json';
