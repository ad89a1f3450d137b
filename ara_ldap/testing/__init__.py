"""Test support for ara-ldap and for users' CI: a throwaway slapd, pytest fixtures, the
driver conformance suite."""
