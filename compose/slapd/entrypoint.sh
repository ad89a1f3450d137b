#!/bin/sh
# ara-ldap's OpenLDAP container (compose/Dockerfile.slapd).
#
# First start (no $STATE/.initialised): build cn=config with slapadd -n0 (Debian's core,
# cosine, inetorgperson, nis, then the project's schema/asterisk.ldif and pjsip.ldif, the
# files `ara-ldap demo` loads), a back-mdb database with syncprov (the gateway's
# change-driven cache follows it) and the indexes Asterisk's lookups need; then slapadd the
# fixtures (ldif/, as the demo does) and any *.ldif in /docker-entrypoint-initdb.d.
# Later starts reuse the volume as it is. "healthcheck" as the argument: the ldapsearch
# the container's HEALTHCHECK runs.
set -eu

STATE=/var/lib/ara-ldap
CONF="$STATE/slapd.d"
DATA="$STATE/data"
SHARE=/usr/share/ara-ldap
SUFFIX="${ARA_LDAP_SUFFIX:-dc=example,dc=org}"
ADMIN_DN="${ARA_LDAP_ADMIN_DN:-cn=admin,$SUFFIX}"
PASSWORD_FILE="${ARA_LDAP_ADMIN_PASSWORD_FILE:-/run/secrets/ldap_admin_password}"
FIXTURES="${ARA_LDAP_FIXTURES:-all}"
INITDB=/docker-entrypoint-initdb.d
LDAPI="ldapi://%2Frun%2Fslapd%2Fldapi"
ROOT_PEER="gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"

say() { echo "ara-slapd: $*" >&2; }
die() { say "error: $*"; exit 1; }

if [ "${1:-}" = healthcheck ]; then
    # Healthy = slapd answers and the suffix entry is there (the first load is done).
    exec ldapsearch -Q -LLL -o nettimeout=2 -Y EXTERNAL -H "$LDAPI" -b "$SUFFIX" -s base dn \
        >/dev/null
fi

config_ldif() {
    rootpw="$1"
    cat <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: /run/slapd/slapd.pid
olcArgsFile: /run/slapd/slapd.args
olcLogLevel: ${ARA_LDAP_LOGLEVEL:-none}

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

include: file:///etc/ldap/schema/nis.ldif

include: file://$SHARE/schema/asterisk.ldif

include: file://$SHARE/schema/pjsip.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: ${ARA_LDAP_SIZELIMIT:-5000}

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by dn.exact=$ROOT_PEER manage by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbMaxSize: 1073741824
olcSuffix: $SUFFIX
olcRootDN: $ADMIN_DN
olcRootPW: $rootpw
olcDbDirectory: $DATA
olcDbIndex: objectClass eq
olcDbIndex: cn eq,sub
olcDbIndex: uid eq
olcDbIndex: entryCSN,entryUUID eq
olcDbIndex: AstContext,AstExtension,AstPriority,AstConfigFilename eq
olcDbIndex: AstAccountIPAddress,AstAccountPort,AstAccountHost,AstAccountDefaultUser eq
olcDbIndex: AstVoicemailMailbox eq
olcDbIndex: astEndpointId,astAuthId,astAorId,astContactId,astDomainAliasId,astIdentifyId eq,sub
olcDbIndex: astPsId,astPsKind eq
olcDbIndex: astContactAor,astContactExpirationTime,astIdentifyEndpoint eq
olcDbIndex: astAorContact,astEndpointMailboxes pres
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by dn.exact=$ROOT_PEER manage by users read by * none

dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
olcSpCheckpoint: 100 10
olcSpSessionlog: 1000
LDIF
}

suffix_ldif() {
    # Only the suffix entry (ARA_LDAP_FIXTURES=none): a plain dc= first RDN.
    rdn="${SUFFIX%%,*}"
    attr="${rdn%%=*}"
    value="${rdn#*=}"
    [ "$attr" = dc ] || die "ARA_LDAP_FIXTURES=none needs a dc= suffix, not '$SUFFIX'"
    printf 'dn: %s\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n' "$SUFFIX"
    printf 'dc: %s\no: %s\n' "$value" "$value"
}

load() {
    say "loading $1"
    slapadd -q -n1 -F "$CONF" -l "$1" || die "slapadd of $1 failed"
}

initialise() {
    [ -r "$PASSWORD_FILE" ] || die "no admin password: mount it as $PASSWORD_FILE (compose secret ldap_admin_password)"
    rm -rf "$CONF" "$DATA"
    mkdir -p "$CONF" "$DATA"
    tmp=$(mktemp -d)
    # The password without its trailing newline (what the gateway's password_file reads).
    printf '%s' "$(cat "$PASSWORD_FILE")" >"$tmp/pw"
    rootpw=$(slappasswd -h '{SSHA}' -T "$tmp/pw")
    config_ldif "$rootpw" >"$tmp/config.ldif"
    slapadd -n0 -F "$CONF" -l "$tmp/config.ldif" || die "cn=config could not be built"
    case "$FIXTURES" in
        all) files=$(ls "$SHARE"/ldif/[0-9]*.ldif) ;;
        none) suffix_ldif >"$tmp/suffix.ldif"; files="$tmp/suffix.ldif" ;;
        *) files=""; for f in $FIXTURES; do files="$files $SHARE/ldif/$f"; done ;;
    esac
    for f in $files; do load "$f"; done
    for f in "$INITDB"/*.ldif; do
        if [ -e "$f" ]; then load "$f"; fi
    done
    rm -rf "$tmp"
    chown -R openldap:openldap "$STATE"
    touch "$STATE/.initialised"
    say "directory $SUFFIX ready (fixtures: $FIXTURES)"
}

mkdir -p /run/slapd
chown openldap:openldap /run/slapd
[ -f "$STATE/.initialised" ] || initialise

if [ "${1:-slapd}" = slapd ]; then
    shift || true
    # -d: the foreground (PID 1's child under init: true); "none" logs only what is
    # logged at any level, e.g. errors.
    exec slapd -h "ldap:/// $LDAPI" -F "$CONF" -u openldap -g openldap \
        -d "${ARA_LDAP_LOGLEVEL:-none}" "$@"
fi
exec "$@"
