"""PJSIP (sorcery) cases: one per request shape ``res_sorcery_realtime`` sends (pjsip.md
§2.2-§2.4), on the ``ps_*`` families of :mod:`.dataset_pjsip`.

Sorcery keys every object on ``id``; its reads are ``id =``, ``id LIKE`` (``%``,
``prefix%`` with ``_`` meant literally, ``%x%``), ``expiration_time <=`` (numeric),
``contact !=``/``mailboxes !=`` the empty string and identify ``endpoint =``; its writes
are ``store`` (1, also for an id that exists), ``update`` with the *whole* object (empty
values delete; 0 for a missing object, which ``update_or_create_on_update_miss`` turns
into a store) and ``destroy``.  Repeated fields follow §1.2/§5.6: ``allow``, ``set_var``,
aor ``contact`` and identify ``match`` repeat in order; ``auth``/``aors``/``mailboxes``
are one comma list; values are never split on ``;``.

Every case needs the ``pjsip`` capability (the loaders set it when the backend configures
the families), so a target without them skips these cases with that reason.
"""

from __future__ import annotations

from typing import Any

import pytest

from ara_ldap.backends.base import Capabilities
from ara_ldap.record import Record
from ara_ldap.testing.conformance.cases_read import skip_unless
from ara_ldap.testing.conformance.checks import column, same_record
from ara_ldap.testing.conformance.dataset import Dataset
from ara_ldap.testing.conformance.dataset_pjsip import (
    EXPIRY_CUTOFF,
    PJSIP_RECORDS,
    contact_id,
)
from ara_ldap.testing.conformance.requirements import (
    Cases,
    RealtimeLike,
    for_operation,
    requires,
)

__all__ = ["PjsipMultiCases", "PjsipSingleCases", "PjsipWriteCases"]

#: A new contact as sorcery stores it (pjsip.md §6): ``id`` first, then the build's
#: fixed field order, empty values included.
NEW_URI = "sip:1002@192.0.2.50:5070;transport=udp;rinstance=cc33;ob"
NEW_CONTACT_ID = contact_id("1002", NEW_URI)


def new_contact(expiration_time: str = "1764153600", **changes: str) -> list[tuple[str, str]]:
    """The ``store`` fields of a REGISTER's new contact, as §6 observed them."""
    fields = [
        ("via_addr", "192.0.2.50"),
        ("qualify_timeout", "3.000000"),
        ("qualify_2xx_only", "false"),
        ("call_id", "reg-1@192.0.2.50"),
        ("reg_server", ""),
        ("prune_on_boot", "no"),
        ("path", ""),
        ("endpoint", "1002"),
        ("via_port", "5070"),
        ("authenticate_qualify", "no"),
        ("uri", NEW_URI),
        ("qualify_frequency", "0"),
        ("user_agent", "Linphone/5.2 (X11; Linux x86_64) belle-sip/5.2"),
        ("expiration_time", expiration_time),
        ("outbound_proxy", ""),
    ]
    return [(name, changes.get(name, value)) for name, value in fields]


def ids(records: list[Record]) -> list[str | None]:
    return column(records, "id")


#: Float columns (pjsip.md §1): sorcery writes ``%f`` (``3.000000``); a SQL DOUBLE reads
#: back ``3.0``.  Asterisk parses both alike, so they compare as numbers.
FLOAT_FIELDS = frozenset({"qualify_timeout"})


def _numbers(record: Record | None) -> Record | None:
    if record is None:
        return None
    return Record((f, str(float(v)) if f.lower() in FLOAT_FIELDS else v) for f, v in record)


def same_object(actual: Record | None, expected: Record | None) -> bool:
    """:func:`same_record`, float fields compared as numbers."""
    return same_record(_numbers(actual), _numbers(expected))


def _loaded_params() -> list[Any]:
    return [
        pytest.param(family, rec, id=f"{family}:{rec.get('id')}")
        for family, records in PJSIP_RECORDS.items()
        for rec in records
    ]


class PjsipSingleCases(Cases):
    """``single`` by ``id``: the object sorcery's ``retrieve_id`` builds, or nothing."""

    operation = "single"
    __requires__ = ("pjsip",)

    @pytest.mark.parametrize(("family", "rec"), _loaded_params())
    def test_pjsip_single_by_id_reads_back_the_loaded_object(
        self, realtime: RealtimeLike, capabilities: Capabilities, family: str, rec: Record
    ) -> None:
        lists = any(len(values) > 1 for values in rec.grouped().values())
        skip_unless(capabilities, "ordered_multi_values", lists)
        found = realtime.single(family, [("id", rec.get("id") or "")])
        assert same_record(found, rec.without_empty())

    def test_pjsip_single_by_user_at_domain_id_finds_that_endpoint(
        self, realtime: RealtimeLike
    ) -> None:
        found = realtime.single("ps_endpoints", [("id", "3000@example.org")])
        assert found is not None and found.get("aors") == "3000"

    def test_pjsip_single_by_user_at_domain_is_none_when_only_the_user_exists(
        self, realtime: RealtimeLike
    ) -> None:
        assert realtime.single("ps_endpoints", [("id", "1001@example.org")]) is None

    def test_pjsip_single_contact_by_an_id_holding_semicolon_and_at(
        self, realtime: RealtimeLike, dataset: Dataset
    ) -> None:
        rec = dataset.records("ps_contacts")[0]
        found = realtime.single("ps_contacts", [("id", rec.get("id") or "")])
        assert found is not None and found.get("id") == rec.get("id")

    def test_pjsip_single_of_the_aor_half_of_a_contact_id_is_none(
        self, realtime: RealtimeLike
    ) -> None:
        assert realtime.single("ps_contacts", [("id", "1001")]) is None

    def test_pjsip_single_leaves_out_a_field_loaded_empty(self, realtime: RealtimeLike) -> None:
        found = realtime.single("ps_endpoints", [("id", "1002")])
        assert found is not None and found.get("mailboxes") is None

    @requires("ordered_multi_values")
    def test_pjsip_allow_comes_back_as_repeated_fields_in_stored_order(
        self, realtime: RealtimeLike
    ) -> None:
        found = realtime.single("ps_endpoints", [("id", "1001")])
        assert found is not None and found.get_all("allow") == ["ulaw", "g722", "alaw"]

    @requires("ordered_multi_values")
    def test_pjsip_set_var_values_are_never_split_on_semicolon(
        self, realtime: RealtimeLike
    ) -> None:
        found = realtime.single("ps_endpoints", [("id", "1001")])
        assert found is not None
        assert found.get_all("set_var") == ["TENANT=example;eu", "CALLCLASS=internal"]

    def test_pjsip_auth_password_with_semicolon_is_one_value(self, realtime: RealtimeLike) -> None:
        found = realtime.single("ps_auths", [("id", "1001")])
        assert found is not None and found.get_all("password") == ["s3cr;et"]

    @requires("ordered_multi_values")
    def test_pjsip_aor_static_contacts_come_back_as_repeated_fields_in_order(
        self, realtime: RealtimeLike
    ) -> None:
        found = realtime.single("ps_aors", [("id", "trunk")])
        assert found is not None
        assert found.get_all("contact") == [
            "sip:198.51.100.8:5060;transport=tcp",
            "sip:198.51.100.7:5060",
        ]


class PjsipMultiCases(Cases):
    """``multi``: the fields queries of §2.3 and the ``id LIKE`` forms of §2.2."""

    operation = "multi"
    __requires__ = ("pjsip",)

    def test_pjsip_id_like_percent_returns_every_identify(self, realtime: RealtimeLike) -> None:
        found = realtime.multi("ps_endpoint_id_ips", [("id LIKE", "%")])
        assert ids(found) == ["phone-1002", "trunk-a", "trunk-b"]

    def test_pjsip_id_like_prefix_returns_the_ids_starting_with_it(
        self, realtime: RealtimeLike
    ) -> None:
        assert ids(realtime.multi("ps_endpoints", [("id LIKE", "100%")])) == ["1001", "1002"]

    def test_pjsip_id_like_contains_returns_the_ids_containing_it(
        self, realtime: RealtimeLike
    ) -> None:
        assert ids(realtime.multi("ps_endpoints", [("id LIKE", "%runk%")])) == ["trunk"]

    def test_pjsip_contact_prefix_returns_the_contacts_of_that_aor(
        self, realtime: RealtimeLike, dataset: Dataset
    ) -> None:
        expected = sorted(
            r.get("id") or "" for r in dataset.records("ps_contacts") if r.get("endpoint") == "1001"
        )
        found = realtime.multi("ps_contacts", [("id LIKE", "1001;@%")])
        assert ids(found) == expected and len(expected) == 2

    def test_pjsip_contact_prefix_takes_underscore_literally(
        self, realtime: RealtimeLike, dataset: Dataset
    ) -> None:
        (expected,) = (
            r.get("id") for r in dataset.records("ps_contacts") if r.get("endpoint") == "a_b"
        )
        assert ids(realtime.multi("ps_contacts", [("id LIKE", "a_b;@%")])) == [expected]

    def test_pjsip_contact_prefix_of_an_aor_without_contacts_is_empty(
        self, realtime: RealtimeLike
    ) -> None:
        assert realtime.multi("ps_contacts", [("id LIKE", "3000;@%")]) == []

    def test_pjsip_expiration_time_le_compares_numerically(self, realtime: RealtimeLike) -> None:
        found = realtime.multi("ps_contacts", [("expiration_time <=", EXPIRY_CUTOFF)])
        assert sorted(column(found, "expiration_time"), key=lambda v: int(v or 0)) == [
            "80",
            "999999999",
        ]

    def test_pjsip_expiration_time_le_rows_are_whole_contacts(
        self, realtime: RealtimeLike, dataset: Dataset
    ) -> None:
        found = realtime.multi("ps_contacts", [("expiration_time <=", "80")])
        (expected,) = (
            r for r in dataset.records("ps_contacts") if r.get("expiration_time") == "80"
        )
        assert len(found) == 1 and same_record(found[0], expected.without_empty())

    def test_pjsip_contact_ne_empty_returns_the_aors_with_static_contacts(
        self, realtime: RealtimeLike
    ) -> None:
        assert ids(realtime.multi("ps_aors", [("contact !=", "")])) == ["trunk"]

    def test_pjsip_mailboxes_ne_empty_returns_the_endpoints_with_mailboxes(
        self, realtime: RealtimeLike
    ) -> None:
        assert ids(realtime.multi("ps_endpoints", [("mailboxes !=", "")])) == ["1001"]

    def test_pjsip_identify_by_endpoint_returns_its_identifies(
        self, realtime: RealtimeLike
    ) -> None:
        found = realtime.multi("ps_endpoint_id_ips", [("endpoint", "trunk")])
        assert ids(found) == ["trunk-a", "trunk-b"]

    @requires("ordered_multi_values")
    def test_pjsip_identify_match_values_keep_their_order_in_multi(
        self, realtime: RealtimeLike
    ) -> None:
        found = realtime.multi("ps_endpoint_id_ips", [("endpoint", "trunk")])
        assert found[0].get_all("match") == ["198.51.100.7", "198.51.100.0/24"]

    def test_pjsip_multi_rows_hold_no_empty_value(self, realtime: RealtimeLike) -> None:
        rows = realtime.multi("ps_contacts", [("id LIKE", "%")])
        assert len(rows) == len(PJSIP_RECORDS["ps_contacts"])
        assert [(r.get("id"), f) for r in rows for f, v in r if v == ""] == []


class _PjsipCases(Cases):
    """Gate shared by the write cases (a class may list one tuple of flags only)."""

    __requires__ = ("pjsip",)


class PjsipWriteCases(_PjsipCases):
    """``store``/``update``/``destroy`` as sorcery calls them (each case starts from the
    loaded data set)."""

    operation = "store"
    __requires__ = ("store",)

    def test_pjsip_store_of_a_new_contact_returns_one_and_it_reads_back(
        self, fresh: RealtimeLike
    ) -> None:
        assert fresh.store("ps_contacts", [("id", NEW_CONTACT_ID), *new_contact()]) == 1
        expected = Record([("id", NEW_CONTACT_ID), *new_contact()]).without_empty()
        assert same_object(fresh.single("ps_contacts", [("id", NEW_CONTACT_ID)]), expected)

    def test_pjsip_store_of_qualify_timeout_reads_back_the_same_number(
        self, fresh: RealtimeLike
    ) -> None:
        fresh.store("ps_contacts", [("id", NEW_CONTACT_ID), *new_contact()])
        found = fresh.single("ps_contacts", [("id", NEW_CONTACT_ID)])
        assert found is not None and float(found.get("qualify_timeout") or "nan") == 3.0

    def test_pjsip_store_leaves_out_the_empty_values_sorcery_sends(
        self, fresh: RealtimeLike
    ) -> None:
        fresh.store("ps_contacts", [("id", NEW_CONTACT_ID), *new_contact()])
        found = fresh.single("ps_contacts", [("id", NEW_CONTACT_ID)])
        assert found is not None
        assert [
            f for f in ("reg_server", "path", "outbound_proxy") if found.get(f) is not None
        ] == []

    def test_pjsip_stored_contact_is_found_by_its_aor_prefix(self, fresh: RealtimeLike) -> None:
        fresh.store("ps_contacts", [("id", NEW_CONTACT_ID), *new_contact()])
        found = fresh.multi("ps_contacts", [("id LIKE", "1002;@%")])
        assert NEW_CONTACT_ID in ids(found)

    def test_pjsip_contact_prefix_takes_a_percent_inside_the_aor_literally(
        self, fresh: RealtimeLike
    ) -> None:
        # Sorcery appends ";@%" to the aor as it is; a "%" inside the aor is not a wildcard.
        stored = []
        for aor in ("a%b", "axyb"):
            uri = f"sip:{aor.replace('%', '%25')}@192.0.2.60:5060"
            stored.append(contact_id(aor, uri))
            fresh.store("ps_contacts", [("id", stored[-1]), *new_contact(uri=uri, endpoint=aor)])
        assert ids(fresh.multi("ps_contacts", [("id LIKE", "a%b;@%")])) == [stored[0]]

    def test_pjsip_store_of_an_existing_id_returns_one_and_replaces_the_values(
        self, fresh: RealtimeLike
    ) -> None:
        fresh.store("ps_contacts", [("id", NEW_CONTACT_ID), *new_contact()])
        again = new_contact("1764157200", call_id="reg-2@192.0.2.50", user_agent="")
        assert fresh.store("ps_contacts", [("id", NEW_CONTACT_ID), *again]) == 1
        found = fresh.single("ps_contacts", [("id", NEW_CONTACT_ID)])
        assert same_object(found, Record([("id", NEW_CONTACT_ID), *again]).without_empty())

    def test_pjsip_store_of_an_existing_endpoint_returns_one_and_replaces_it(
        self, fresh: RealtimeLike
    ) -> None:
        replacement = [("id", "1002"), ("context", "other"), ("aors", "1002"), ("allow", "g722")]
        assert fresh.store("ps_endpoints", replacement) == 1
        assert same_record(fresh.single("ps_endpoints", [("id", "1002")]), Record(replacement))

    def test_pjsip_store_keeps_allow_written_as_one_parenthesised_value(
        self, fresh: RealtimeLike
    ) -> None:
        fresh.store("ps_endpoints", [("id", "push"), ("allow", "(ulaw|alaw)")])
        found = fresh.single("ps_endpoints", [("id", "push")])
        assert found is not None and found.get_all("allow") == ["(ulaw|alaw)"]

    @requires("ordered_multi_values")
    def test_pjsip_store_keeps_repeated_set_var_in_order_and_unsplit(
        self, fresh: RealtimeLike
    ) -> None:
        set_vars = [("set_var", "B=2;3"), ("set_var", "A=1")]
        fresh.store("ps_endpoints", [("id", "push"), *set_vars])
        found = fresh.single("ps_endpoints", [("id", "push")])
        assert found is not None and found.get_all("set_var") == ["B=2;3", "A=1"]

    def test_pjsip_store_of_a_comma_list_field_reads_back_as_one_field(
        self, fresh: RealtimeLike
    ) -> None:
        fresh.store("ps_endpoints", [("id", "push"), ("aors", "push,push-b"), ("auth", "push")])
        found = fresh.single("ps_endpoints", [("id", "push")])
        assert found is not None and found.get_all("aors") == ["push,push-b"]

    def test_pjsip_store_of_repeated_endpoint_auth_reads_back_as_one_comma_list(
        self, fresh: RealtimeLike
    ) -> None:
        fresh.store("ps_endpoints", [("id", "push"), ("auth", "push-a"), ("auth", "push-b")])
        found = fresh.single("ps_endpoints", [("id", "push")])
        assert found is not None and found.get_all("auth") == ["push-a,push-b"]

    def test_pjsip_store_of_repeated_registration_outbound_auth_reads_back_joined(
        self, fresh: RealtimeLike
    ) -> None:
        # Written as repeated keys, read last-wins (pjsip.md 1.2): only one joined value
        # keeps both auths.
        fresh.store(
            "ps_registrations",
            [("id", "out2"), ("outbound_auth", "auth-a"), ("outbound_auth", "auth-b")],
        )
        found = fresh.single("ps_registrations", [("id", "out2")])
        assert found is not None and found.get_all("outbound_auth") == ["auth-a,auth-b"]

    @for_operation("update")
    def test_pjsip_update_of_a_long_tail_object_with_an_empty_value_deletes_it(
        self, fresh: RealtimeLike, dataset: Dataset
    ) -> None:
        rec = dataset.records("ps_registrations")[0]
        whole = [(f, "" if f == "retry_interval" else v) for f, v in rec if f != "id"]
        assert fresh.update("ps_registrations", "id", rec.get("id") or "", whole) == 1
        found = fresh.single("ps_registrations", [("id", rec.get("id") or "")])
        assert found is not None and found.get("retry_interval") is None
        assert found.get("server_uri") == rec.get("server_uri")

    @for_operation("update")
    def test_pjsip_update_with_the_whole_object_returns_one_and_sets_the_values(
        self, fresh: RealtimeLike, dataset: Dataset
    ) -> None:
        rec = dataset.records("ps_contacts")[0]
        cid = rec.get("id") or ""
        whole = [(f, "1764160800" if f == "expiration_time" else v) for f, v in rec if f != "id"]
        assert fresh.update("ps_contacts", "id", cid, whole) == 1
        found = fresh.single("ps_contacts", [("id", cid)])
        assert same_record(found, Record([("id", cid), *whole]).without_empty())

    @for_operation("update")
    def test_pjsip_update_with_an_empty_value_deletes_that_field(
        self, fresh: RealtimeLike, dataset: Dataset
    ) -> None:
        rec = dataset.records("ps_contacts")[0]
        cid = rec.get("id") or ""
        whole = [(f, "" if f == "path" else v) for f, v in rec if f != "id"]
        assert rec.get("path")  # the loaded contact has one to delete
        fresh.update("ps_contacts", "id", cid, whole)
        found = fresh.single("ps_contacts", [("id", cid)])
        assert (
            found is not None and found.get("path") is None and found.get("uri") == rec.get("uri")
        )

    @for_operation("update")
    def test_pjsip_update_of_a_missing_object_returns_zero_and_creates_nothing(
        self, fresh: RealtimeLike
    ) -> None:
        assert fresh.update("ps_contacts", "id", NEW_CONTACT_ID, new_contact()) == 0
        assert fresh.single("ps_contacts", [("id", NEW_CONTACT_ID)]) is None

    @for_operation("update")
    def test_pjsip_update_of_an_endpoint_replaces_its_codec_list(self, fresh: RealtimeLike) -> None:
        assert fresh.update("ps_endpoints", "id", "1001", [("allow", "(g722|ulaw)")]) == 1
        found = fresh.single("ps_endpoints", [("id", "1001")])
        assert found is not None and found.get_all("allow") == ["(g722|ulaw)"]

    @for_operation("destroy")
    @requires("destroy")
    def test_pjsip_destroy_of_a_contact_returns_one_and_it_is_gone(
        self, fresh: RealtimeLike, dataset: Dataset
    ) -> None:
        cid = dataset.records("ps_contacts")[0].get("id") or ""
        assert fresh.destroy("ps_contacts", [("id", cid)]) == 1
        assert fresh.single("ps_contacts", [("id", cid)]) is None
        assert cid not in ids(fresh.multi("ps_contacts", [("id LIKE", "1001;@%")]))

    @for_operation("destroy")
    @requires("destroy")
    def test_pjsip_destroy_of_a_missing_contact_returns_zero(self, fresh: RealtimeLike) -> None:
        assert fresh.destroy("ps_contacts", [("id", NEW_CONTACT_ID)]) == 0

    @for_operation("destroy")
    @requires("destroy")
    def test_pjsip_destroy_of_a_contact_leaves_the_other_contacts_of_its_aor(
        self, fresh: RealtimeLike, dataset: Dataset
    ) -> None:
        first, second = (r.get("id") for r in dataset.records("ps_contacts")[:2])
        fresh.destroy("ps_contacts", [("id", first or "")])
        assert ids(fresh.multi("ps_contacts", [("id LIKE", "1001;@%")])) == [second]
