-- One database per service (each migrates its own at start) and one for Keycloak, all owned
-- by the stack's database user. Runs once, when the data volume is first initialised.
CREATE DATABASE accounts;
CREATE DATABASE scheduling;
CREATE DATABASE pharmacy;
CREATE DATABASE records;
CREATE DATABASE notify;
CREATE DATABASE keycloak;
