"""Directory changes pushed to Asterisk over AMI (``ara-ldap notify``, docs/notify.md)."""
