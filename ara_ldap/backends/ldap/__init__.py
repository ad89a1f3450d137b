"""The LDAP backend (ldap3): filters, attribute maps, the connection pool, operations."""
