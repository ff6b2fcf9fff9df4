#!/usr/bin/env bash
# Acceptance of `docnode axis serve` against the vendor's Java client (VNPT SDKVXP 2.0.1).
#
#   contrib/sdk-acceptance/run.sh SDK_DIR          (or DOCNODE_VNPT_SDK_DIR=SDK_DIR run.sh)
#
# SDK_DIR holds SDKVXP-2.0.1.jar and the jars it needs (gson, commons-codec, httpclient,
# httpcore, httpmime, commons-logging, guava); every *.jar in it goes on the classpath. Needs a
# JDK (javac, java; 8 or later) and docnode (the repo's .venv/bin/docnode, else $DOCNODE, else
# docnode on PATH).
#
# What it does, in a throw-away folder: a development CA and one signing identity per agency
# (docnode keys), for each mode two signed edocs A -> B and B's signed status 01 back (docnode
# pack / pack-status), two client systems (docnode axis register-system), an axis on a free
# loopback port (docnode axis serve), then SdkAcceptance.java in mode "fresh" (a new SDK service
# object per call) and "long" (one object per system for every call). Exit 0 only when both
# modes pass every check; the folder (logs, packets, the SDK's own chatter) is kept on failure
# or when KEEP=1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
sdk_dir="${1:-${DOCNODE_VNPT_SDK_DIR:-}}"
if [[ -z "$sdk_dir" || ! -d "$sdk_dir" ]]; then
    echo "usage: $0 SDK_DIR   (or set DOCNODE_VNPT_SDK_DIR): the folder holding SDKVXP-2.0.1.jar" \
         "and its dependency jars" >&2
    exit 2
fi
sdk_dir="$(cd "$sdk_dir" && pwd)"
if ! compgen -G "$sdk_dir/*.jar" > /dev/null; then
    echo "no .jar in $sdk_dir" >&2
    exit 2
fi
for tool in javac java; do
    command -v "$tool" > /dev/null || { echo "$tool not found: a JDK is needed" >&2; exit 2; }
done
if [[ -n "${DOCNODE:-}" ]]; then
    docnode="$DOCNODE"
elif [[ -x "$repo/.venv/bin/docnode" ]]; then
    docnode="$repo/.venv/bin/docnode"
else
    docnode="$(command -v docnode || true)"
fi
[[ -n "$docnode" ]] || { echo "docnode not found (make install, or set DOCNODE)" >&2; exit 2; }
python="$(dirname "$docnode")/python"
[[ -x "$python" ]] || python="$(command -v python3)"

work="$(mktemp -d "${TMPDIR:-/tmp}/sdk-acceptance.XXXXXX")"
axis_pid=""
ok=0
cleanup() {
    if [[ -n "$axis_pid" ]] && kill -0 "$axis_pid" 2> /dev/null; then
        kill "$axis_pid" 2> /dev/null || true
        wait "$axis_pid" 2> /dev/null || true
    fi
    if [[ "$ok" == 1 && "${KEEP:-0}" != 1 ]]; then
        rm -rf "$work"
    else
        echo "sdk-acceptance: kept $work (axis.log, sdk-*.log, packets)" >&2
    fi
}
trap cleanup EXIT

cd "$work"
quiet() { # run a setup step, its output to setup.log; show it when the step fails
    "$@" >> setup.log 2>&1 || { echo "failed: $*" >&2; tail -20 setup.log >&2; exit 1; }
}
random() { "$python" -c 'import secrets; print(secrets.token_urlsafe(24))'; }
SDK_ACCEPT_KEY_PASSPHRASE="$(random)"
SDK_ACCEPT_SECRET_A="$(random)"
SDK_ACCEPT_SECRET_B="$(random)"
export SDK_ACCEPT_KEY_PASSPHRASE SDK_ACCEPT_SECRET_A SDK_ACCEPT_SECRET_B
organ_a="000.00.00.G22" organ_b="000.00.00.H41"

echo "sdk-acceptance: compiling the driver against $sdk_dir"
mkdir classes
javac -encoding UTF-8 -cp "$sdk_dir/*" -d classes "$here/SdkAcceptance.java" || {
    echo "javac failed: does $sdk_dir hold SDKVXP-2.0.1.jar?" >&2
    exit 2
}

java -cp "$sdk_dir/*:classes" SdkClasspath || exit 2

echo "sdk-acceptance: development CA, identities, packets ($docnode)"
quiet "$docnode" keys init-ca ca
for who in a b; do
    organ="organ_$who"
    quiet "$docnode" keys issue --ca ca -o "id-$who" --organ-id "${!organ}" \
        --name "Agency ${who^^}" --passphrase-env SDK_ACCEPT_KEY_PASSPHRASE
done
sign() { # identity: the signing options of docnode pack / pack-status
    echo --key "id-$1/signing.key.pem" --cert "id-$1/signing.pem" --chain "id-$1/issuing-ca.pem" \
        --passphrase-env SDK_ACCEPT_KEY_PASSPHRASE
}
printf '%%PDF-1.7\nSDK acceptance attachment\n' > attachment.pdf
for mode in fresh long; do
    mkdir "packets-$mode"
    for n in 1 2; do
        cat > "edoc-$mode-$n.toml" <<EOF
from = {organ_id = "$organ_a", organ_name = "Agency A"}
to = ["$organ_b"]
code = "$n/SDK-${mode^^}"
subject = "Kiểm thử SDK VXP ($mode, $n)"
EOF
        # shellcheck disable=SC2046
        quiet "$docnode" pack "edoc-$mode-$n.toml" attachment.pdf $(sign a) \
            -o "packets-$mode/edoc-$n.edxml"
    done
    document_id="$("$docnode" unpack "packets-$mode/edoc-1.edxml" --json \
        | "$python" -c 'import json, sys; print(json.load(sys.stdin)["header"]["document_id"])')"
    cat > "status-$mode.toml" <<EOF
from = {organ_id = "$organ_b", organ_name = "Agency B"}
status_code = "01"
response_for = {organ_id = "$organ_a", code = "1/SDK-${mode^^}", document_id = "$document_id"}
EOF
    # shellcheck disable=SC2046
    quiet "$docnode" pack-status "status-$mode.toml" $(sign b) -o "packets-$mode/status.edxml"
done

echo "sdk-acceptance: throw-away axis"
quiet "$docnode" axis register-system --data axis --system-id sdk.a \
    --secret-env SDK_ACCEPT_SECRET_A --organ-id "$organ_a" --name "SDK acceptance A"
quiet "$docnode" axis register-system --data axis --system-id sdk.b \
    --secret-env SDK_ACCEPT_SECRET_B --organ-id "$organ_b" --name "SDK acceptance B"
"$docnode" axis serve --data axis --listen 127.0.0.1:0 --trust-anchor ca/root-ca.pem \
    --crl ca/crl.pem --crl ca/root-crl.pem > axis.out 2> axis.log &
axis_pid=$!
endpoint=""
for _ in $(seq 1 150); do
    line="$(grep -m1 '^listening ' axis.out || true)"
    if [[ -n "$line" ]]; then endpoint="http://${line#listening }"; break; fi
    kill -0 "$axis_pid" 2> /dev/null || break
    sleep 0.2
done
[[ -n "$endpoint" ]] || { echo "the axis did not start:" >&2; tail -20 axis.log >&2; exit 1; }
echo "sdk-acceptance: axis at $endpoint"

failed=0
for mode in fresh long; do
    java -cp "$sdk_dir/*:classes" SdkAcceptance "$mode" "$endpoint" sdk.a "$organ_a" sdk.b \
        "$organ_b" "packets-$mode" "$work" || failed=1
done
if [[ "$failed" == 0 ]]; then
    ok=1
    echo "sdk-acceptance: both modes passed"
else
    echo "sdk-acceptance: FAILED" >&2
    exit 1
fi
