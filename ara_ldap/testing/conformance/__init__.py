"""The driver conformance suite: one data set, one set of cases, every backend.

Every front door (the Python API, the CLI, the res_config_curl gateway) and every backend
(LDAP, SQL) must answer Asterisk's realtime questions the same way.  This suite states
those answers once, as pytest cases, in the style of SQLAlchemy's third-party dialect
suite and fsspec's abstract tests:

* :mod:`.dataset`: the one fixture data set, drawn in its docstring (peers with codec
  lists and values full of ``; ^ % _ * ( ) \\ , =``, voicemail in two contexts, a dialplan
  with literal and pattern rows, static config files with includes) and, from
  :mod:`.dataset_pjsip`, the PJSIP ``ps_*`` families (:mod:`.cases_pjsip` runs only on
  targets with the ``pjsip`` capability, which the loaders set when the backend
  configures those families; a self-built Target sets it with ``with_capabilities``);
* :mod:`.loaders`: loads it into each backend its own way (LDIF with ``ldapadd`` for
  LDAP, a bulk INSERT for SQL) and wraps the result in a :class:`Target`;
* ``cases_*``: abstract case classes (no ``Test`` prefix, so pytest does not collect
  them), gated on :class:`~ara_ldap.backends.base.Capabilities` flags with
  :func:`requires`; :mod:`.suite` combines them into :class:`ReadSuite` and
  :class:`WriteSuite`;
* :mod:`.fixtures`: ``realtime``, ``fresh``, ``capabilities``, ``dataset``, all derived
  from one ``conformance_target`` fixture the backend supplies;
* :mod:`.curl`: the gateway as a front door (Asterisk's own HTTP client behind the
  Realtime API), so the same cases check what Asterisk would see.

Running it for a driver (a new backend, or your own deployment's settings)
--------------------------------------------------------------------------
1. Write a module-scoped ``conformance_target`` fixture that starts the store, loads the
   data set and yields a :class:`Target` (``name``, a Realtime-like object, the backend's
   ``Capabilities``, and a ``reload`` callable that restores the data set)::

       # tests/conformance/test_mybackend.py
       import pytest
       from ara_ldap.testing.conformance import ReadSuite, WriteSuite, sql_target
       from ara_ldap.testing.conformance.fixtures import (  # noqa: F401
           capabilities, dataset, fresh, realtime)

       @pytest.fixture(scope="module")
       def conformance_target(tmp_path_factory):
           url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'rt.db'}"
           with sql_target(url, name="sqlite") as target:
               yield target

       class TestReads(ReadSuite): ...
       class TestWrites(WriteSuite): ...

   For LDAP use ``running_slapd()`` (from :mod:`.fixtures`) and :func:`ldap_target`; for
   the res_config_curl gateway in front of either, :func:`.curl.gateway_target`.  A new
   backend writes its own loader and builds ``Target(name, realtime, capabilities,
   reload)`` itself.
2. Declare what the backend cannot do in its ``Capabilities``: those cases are skipped
   with the flag's name, never failed.  Everything else must pass.
3. Run ``pytest tests/conformance``.  Write cases reload the data set first (isolation);
   read cases share one load per module.

Someone else's driver (docs/conformance.md): ``ara-ldap conformance URL`` runs the suite
against any res_config_curl server (:mod:`.runner`: the data set stored and destroyed over
the wire; :mod:`.report`: per operation verdicts, each failure's wire exchanges, JUnit), and
:func:`.backend_target.backend_target` makes a target of any Python ``Backend``.

Outside pytest, :func:`run_suite` runs the same cases against a :class:`Target` and returns
:class:`CaseResult` objects (backend, operation, case, outcome, reason);
:func:`format_table` prints them per operation and backend.
"""

from __future__ import annotations

from ara_ldap.testing.conformance.dataset import DATASET, Dataset
from ara_ldap.testing.conformance.loaders import Target, ldap_target, sql_target
from ara_ldap.testing.conformance.requirements import RealtimeLike, for_operation, requires
from ara_ldap.testing.conformance.suite import (
    CaseResult,
    ReadSuite,
    WriteSuite,
    format_table,
    run_suite,
)

__all__ = [
    "DATASET",
    "CaseResult",
    "Dataset",
    "ReadSuite",
    "RealtimeLike",
    "Target",
    "WriteSuite",
    "for_operation",
    "format_table",
    "ldap_target",
    "requires",
    "run_suite",
    "sql_target",
]
