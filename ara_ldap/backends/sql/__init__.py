"""The SQL compatibility backend (SQLAlchemy Core): the standard Asterisk realtime tables on
SQLite, PostgreSQL or MySQL/MariaDB, answering exactly like the LDAP backend.

``chunks`` holds the ``;``/``^XX`` multi-value convention, ``tables`` the table definitions
and :func:`~ara_ldap.backends.sql.tables.init_schema`, ``backend`` the operations.  Importing
this package needs SQLAlchemy (``pip install 'ara-ldap[sql]'``).
"""

from ara_ldap.backends.sql.backend import SqlBackend
from ara_ldap.backends.sql.tables import STANDARD_TABLES, init_schema, standard_metadata

__all__ = ["STANDARD_TABLES", "SqlBackend", "init_schema", "standard_metadata"]
