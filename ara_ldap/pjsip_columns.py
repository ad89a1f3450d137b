"""The standard PJSIP realtime columns (Asterisk alembic head ``2285f2ace275``).

One source for everything PJSIP-shaped: the LDAP schema generator (schema/gen_pjsip.py)
reads it, so attribute types cannot drift from the columns Asterisk's sorcery sends.
Type codes: ``S<n>`` VARCHAR(n), ``Text``, ``Int``, ``BigInt``, ``Float``, ``Bool``,
``astbool`` and ``E`` (enums); see /work/shared/reference/pjsip.md section 1.
"""

from __future__ import annotations

#: (column, type) groups per table, in table order inside each type group.
_GROUPS: dict[str, list[tuple[str, str]]] = {
    "ps_endpoints": [
        ("S255", "id auth outbound_auth outbound_proxy"),
        (
            "S40",
            "transport context external_media_address mailboxes moh_suggest callerid "
            "callerid_tag call_group pickup_group named_call_group named_pickup_group tone_zone "
            "language record_on_feature record_off_feature rtp_engine sdp_owner sdp_session "
            "from_domain from_user mwi_from_user dtls_verify dtls_rekey media_address "
            "message_context voicemail_extension acl contact_acl subscribe_context "
            "incoming_mwi_mailbox",
        ),
        ("S2048", "aors"),
        (
            "S200",
            "disallow allow dtls_cert_file dtls_private_key dtls_cipher dtls_ca_file dtls_ca_path",
        ),
        (
            "astbool",
            "direct_media disable_direct_media_on_nat force_rport ice_support "
            "rewrite_contact rtp_ipv6 rtp_symmetric send_diversion send_pai send_rpid "
            "aggregate_mwi trust_id_inbound trust_id_outbound use_ptime use_avpf "
            "inband_progress fax_detect t38_udptl t38_udptl_nat t38_udptl_ipv6 "
            "one_touch_recording allow_transfer allow_subscribe srtp_tag_32 force_avp "
            "media_use_received_transport user_eq_phone moh_passthrough "
            "media_encryption_optimistic rpid_immediate g726_non_standard "
            "bind_rtp_to_media_address mwi_subscribe_replaces_unsolicited "
            "preferred_codec_only asymmetric_rtp_codec rtcp_mux allow_overlap "
            "refer_blind_progress notify_early_inuse_ringing webrtc bundle "
            "dtls_auto_generate_cert follow_early_media_fork accept_multiple_sdp_answers "
            "suppress_q850_reason_headers trust_connected_line send_connected_line "
            "ignore_183_without_sdp stir_shaken send_history_info "
            "allow_unauthenticated_options t38_bind_udptl_to_media_address send_aoc "
            "suppress_moh_on_sendonly",
        ),
        ("E", "connected_line_method direct_media_method direct_media_glare_mitigation dtmf_mode"),
        (
            "S80",
            "identify_by accountcode contact_user geoloc_incoming_call_profile "
            "geoloc_outgoing_call_profile stir_shaken_profile overlap_context tenantid",
        ),
        (
            "Int",
            "timers_min_se timers_sess_expires device_state_busy_at t38_udptl_maxdatagram "
            "sub_min_expiry cos_audio cos_video rtp_keepalive rtp_timeout rtp_timeout_hold "
            "fax_detect_timeout max_audio_streams max_video_streams rtp_port_start rtp_port_end",
        ),
        ("E", "timers callerid_privacy 100rel media_encryption t38_udptl_ec"),
        ("S10", "tos_audio tos_video"),
        ("E", "dtls_setup redirect_method"),
        ("Text", "set_var"),
        ("S95", "deny permit contact_deny contact_permit follow_redirect_methods"),
        ("E", "dtls_fingerprint"),
        (
            "S128",
            "codec_prefs_incoming_offer codec_prefs_outgoing_offer "
            "codec_prefs_incoming_answer codec_prefs_outgoing_answer",
        ),
        ("E", "incoming_call_offer_pref outgoing_call_offer_pref security_negotiation"),
        ("S512", "security_mechanisms"),
    ],
    "ps_auths": [
        ("S255", "id realm refresh_token oauth_clientid oauth_secret"),
        ("E", "auth_type"),
        ("Int", "nonce_lifetime"),
        ("S40", "md5_cred username"),
        ("S80", "password"),
        ("S1024", "password_digest supported_algorithms_uas supported_algorithms_uac"),
    ],
    "ps_aors": [
        ("S255", "id contact outbound_proxy"),
        (
            "Int",
            "default_expiration max_contacts minimum_expiration qualify_frequency "
            "maximum_expiration",
        ),
        ("S80", "mailboxes"),
        (
            "astbool",
            "remove_existing authenticate_qualify support_path remove_unavailable qualify_2xx_only",
        ),
        ("Float", "qualify_timeout"),
        ("S40", "voicemail_extension"),
    ],
    "ps_contacts": [
        ("S255", "id outbound_proxy user_agent reg_server call_id endpoint"),
        ("S511", "uri"),
        ("BigInt", "expiration_time"),
        ("Int", "qualify_frequency via_port"),
        ("Text", "path"),
        ("Float", "qualify_timeout"),
        ("astbool", "authenticate_qualify prune_on_boot qualify_2xx_only"),
        ("S40", "via_addr"),
    ],
    "ps_domain_aliases": [("S255", "id domain")],
    "ps_endpoint_id_ips": [
        ("S255", "id endpoint match_header match_request_uri"),
        ("S80", "match"),
        ("astbool", "srv_lookups"),
    ],
}

#: The long-tail tables (pjsip.md section 1), stored as name=value entries in LDAP
#: (astPsGeneric) and as their standard tables in SQL.
_GENERIC_GROUPS: dict[str, list[tuple[str, str]]] = {
    "ps_registrations": [
        (
            "S255",
            "id client_uri outbound_auth outbound_proxy server_uri endpoint "
            "contact_header_params user_agent",
        ),
        ("astbool", "auth_rejection_permanent support_path line support_outbound"),
        ("S40", "contact_user transport"),
        (
            "Int",
            "expiration max_retries retry_interval forbidden_retry_interval "
            "fatal_retry_interval max_random_initial_delay",
        ),
        ("E", "security_negotiation"),
        ("S512", "security_mechanisms"),
    ],
    "ps_globals": [
        (
            "S40",
            "id default_outbound_endpoint debug endpoint_identifier_order "
            "default_voicemail_extension default_realm",
        ),
        (
            "Int",
            "max_forwards max_initial_qualify_time keep_alive_interval "
            "contact_expiration_check_interval unidentified_request_count "
            "unidentified_request_period unidentified_request_prune_interval "
            "mwi_tps_queue_high mwi_tps_queue_low",
        ),
        ("S255", "user_agent"),
        ("S80", "default_from_user regcontext"),
        (
            "astbool",
            "disable_multi_domain mwi_disable_initial_unsolicited ignore_uri_user_options "
            "use_callerid_contact send_contact_status_on_update_registration norefersub "
            "allow_sending_180_after_183 all_codecs_on_empty_reinvite",
        ),
        ("E", "taskprocessor_overload_trigger"),
        ("S1024", "default_auth_algorithms_uas default_auth_algorithms_uac"),
    ],
    "ps_systems": [
        ("S40", "id"),
        (
            "Int",
            "timer_t1 timer_b threadpool_initial_size threadpool_auto_increment "
            "threadpool_idle_timeout threadpool_max_size taskpool_minimum_size "
            "taskpool_initial_size taskpool_auto_increment taskpool_idle_timeout "
            "taskpool_max_size",
        ),
        (
            "astbool",
            "compact_headers disable_tcp_switch follow_early_media_fork "
            "accept_multiple_sdp_answers disable_rport",
        ),
    ],
    "ps_outbound_publishes": [
        ("S255", "id outbound_auth"),
        ("Int", "expiration max_auth_attempts"),
        ("S256", "outbound_proxy server_uri from_uri to_uri @context @exten"),
        ("S40", "event transport @body"),
        ("astbool", "multi_user"),
    ],
    "ps_inbound_publications": [
        ("S255", "id endpoint"),
        ("S40", "event_asterisk-devicestate event_asterisk-mwi"),
    ],
    "ps_asterisk_publications": [
        ("S40", "id devicestate_publish mailboxstate_publish"),
        ("astbool", "device_state mailbox_state"),
        ("S256", "device_state_filter mailbox_state_filter"),
    ],
    "ps_resource_list": [
        ("S40", "id event"),
        ("S2048", "list_item"),
        ("astbool", "full_state resource_display_name"),
        ("Int", "notification_batch_interval"),
    ],
    "stir_tn": [
        ("S80", "id"),
        ("S1024", "private_key_file public_cert_url"),
        ("S1", "attest_level"),
        ("astbool", "send_mky"),
    ],
}

#: table -> [(column, type)], every column of the typed PJSIP families.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    table: [(name, type_) for type_, names in groups for name in names.split()]
    for table, groups in _GROUPS.items()
}

#: table -> [(column, type)] of the long-tail tables (GENERIC_TABLES order).
GENERIC_COLUMNS: dict[str, list[tuple[str, str]]] = {
    table: [(name, type_) for type_, names in groups for name in names.split()]
    for table, groups in _GENERIC_GROUPS.items()
}

#: table -> the family word used in LDAP names (astEndpointId, astAorMaxContacts, ...).
FAMILY_WORDS: dict[str, str] = {
    "ps_endpoints": "Endpoint",
    "ps_auths": "Auth",
    "ps_aors": "Aor",
    "ps_contacts": "Contact",
    "ps_domain_aliases": "DomainAlias",
    "ps_endpoint_id_ips": "Identify",
}

#: Fields that repeat (one key per value on read; pjsip.md 1.2 "accumulates").
REPEATED: dict[str, list[str]] = {
    "ps_endpoints": ["allow", "set_var"],
    "ps_aors": ["contact"],
    "ps_endpoint_id_ips": ["match"],
}

#: Comma-list fields read last-wins (pjsip.md 1.2): several stored values are returned as
#: one key joined with ",", so none is silently dropped.
JOINED: dict[str, list[str]] = {
    "ps_endpoints": ["auth", "outbound_auth", "aors", "mailboxes", "identify_by"],
    "ps_aors": ["mailboxes"],
    "ps_registrations": ["outbound_auth"],
}

#: Long-tail fields that accumulate (repeated keys on read).
GENERIC_REPEATED: dict[str, list[str]] = {
    "ps_resource_list": ["list_item"],
}

#: table -> (sorcery.conf section, object type): what ``ara-ldap extconfig`` prints.
SORCERY_TYPES: dict[str, tuple[str, str]] = {
    "ps_endpoints": ("res_pjsip", "endpoint"),
    "ps_auths": ("res_pjsip", "auth"),
    "ps_aors": ("res_pjsip", "aor"),
    "ps_contacts": ("res_pjsip", "contact"),
    "ps_domain_aliases": ("res_pjsip", "domain_alias"),
    "ps_endpoint_id_ips": ("res_pjsip_endpoint_identifier_ip", "identify"),
    "ps_registrations": ("res_pjsip_outbound_registration", "registration"),
    "ps_globals": ("res_pjsip", "global"),
    "ps_systems": ("res_pjsip", "system"),
    "ps_outbound_publishes": ("res_pjsip_outbound_publish", "outbound-publish"),
    "ps_inbound_publications": ("res_pjsip_pubsub", "inbound-publication"),
    "ps_asterisk_publications": ("res_pjsip_publish_asterisk", "asterisk-publication"),
    "ps_resource_list": ("res_pjsip_pubsub", "resource_list"),
    "stir_tn": ("res_stir_shaken", "tn"),
}

#: Fields whose values are secrets (never logged; readable only by the gateway's bind).
SECRETS: dict[str, list[str]] = {
    "ps_auths": ["password", "md5_cred", "password_digest", "oauth_secret", "refresh_token"],
}

#: Long-tail families stored as generic ``name=value`` entries (astPsGeneric).
GENERIC_TABLES = (
    "ps_registrations",
    "ps_globals",
    "ps_systems",
    "ps_outbound_publishes",
    "ps_inbound_publications",
    "ps_asterisk_publications",
    "ps_resource_list",
    "stir_tn",
)


def is_integer(type_: str) -> bool:
    return type_ in ("Int", "BigInt")


def attribute_name(table: str, column: str) -> str:
    """``ast`` + family word + PascalCase(column): ``max_contacts`` -> ``astAorMaxContacts``.

    LDAP names allow only letters, digits and '-', so '_' and '-' are word breaks."""
    words = column.replace("-", "_").split("_")
    return "ast" + FAMILY_WORDS[table] + "".join(w[:1].upper() + w[1:] for w in words)
