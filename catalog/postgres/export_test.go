package postgres

// Migrations is the embedded schema migrations, for the migration test.
var Migrations = migrations
