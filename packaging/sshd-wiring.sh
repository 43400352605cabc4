#!/bin/sh
# eic-agent's sshd wiring, shared by the .deb and .rpm maintainer scripts.
# Installed as /usr/share/eic-agent/sshd-wiring.sh; run, never sourced:
#   sh /usr/share/eic-agent/sshd-wiring.sh account     create the command user if missing
#   sh /usr/share/eic-agent/sshd-wiring.sh wire        wire sshd (install, reinstall)
#   sh /usr/share/eic-agent/sshd-wiring.sh upgrade     keep what an earlier version wired
#   sh /usr/share/eic-agent/sshd-wiring.sh unwire      undo what this package wired
# Every step logs one line to stderr saying what it did and why.
#
# Contract: what sshd enforces is learnt from `sshd -T` only (grep misses Includes, Match
# blocks and -o); a key command that is not EIC's is never overridden; nothing is restarted;
# every file written is recorded in $STATE so removal restores sshd's files byte for byte.
set -eu

OURS=/usr/sbin/eic-authorized-keys
# Paths the official packages configure; this package links both to $OURS.
COMPAT1=/opt/aws/bin/eic_run_authorized_keys
COMPAT2=/usr/share/ec2-instance-connect/eic_run_authorized_keys
CMDUSER=ec2-instance-connect
SSHD=/usr/sbin/sshd
SSHD_CONFIG=/etc/ssh/sshd_config
DROPIN=/etc/ssh/sshd_config.d/00-eic-agent.conf
OPTOUT=/etc/eic-agent/no-sshd-wiring
STATE=/var/lib/eic-agent
RECORD=$STATE/sshd-wiring
BACKUP=$STATE/sshd_config.orig
SYSUSERS=/usr/lib/sysusers.d/eic-agent.conf
DOCS=/usr/share/doc/eic-agent/README.md
BEGIN_MARK='# BEGIN eic-agent'
END_MARK='# END eic-agent'

log() { printf 'eic-agent: %s\n' "$*" >&2; }

settings() {
	cat <<EOF
# Written by the eic-agent package so sshd asks it for EC2 Instance Connect keys; removed
# with the package. Create $OPTOUT before installing to keep the package away from sshd.
AuthorizedKeysCommand $OURS %u %f
AuthorizedKeysCommandUser $CMDUSER
EOF
}

account() {
	if getent passwd "$CMDUSER" >/dev/null 2>&1; then
		log "account $CMDUSER exists: kept as it is"
		return 0
	fi
	# The tools' own chatter is kept for when they fail, so the log stays one line per step.
	if command -v systemd-sysusers >/dev/null 2>&1 && [ -f "$SYSUSERS" ]; then
		how="systemd-sysusers ($SYSUSERS)"
		out=$(systemd-sysusers "$SYSUSERS" 2>&1) || fail_account "$how" "$out"
	elif command -v adduser >/dev/null 2>&1 && adduser --help 2>&1 | grep -q -- --system; then
		how=adduser
		out=$(adduser --system --group --no-create-home --home /nonexistent --shell /usr/sbin/nologin \
			--disabled-password --quiet "$CMDUSER" 2>&1) || fail_account "$how" "$out"
	else
		how="useradd -r and usermod -L"
		out=$(useradd -r -M -d /nonexistent -s /sbin/nologin "$CMDUSER" 2>&1 && usermod -L "$CMDUSER" 2>&1) ||
			fail_account "$how" "$out"
	fi
	log "created locked system account $CMDUSER with $how: sshd runs the helper as it"
}

fail_account() {
	log "cannot create account $CMDUSER with $1 ($(printf '%s\n' "$2" | tr '\n' ' ')): sshd needs it to run the helper; create it as a locked system account and reinstall"
	exit 1
}

opted_out() {
	if [ -e "$OPTOUT" ]; then
		log "$OPTOUT exists: sshd configuration left untouched (remove it and reinstall to wire sshd)"
		return 0
	fi
	if [ "${EIC_AGENT_NO_SSHD_WIRING:-}" = 1 ]; then
		log "EIC_AGENT_NO_SSHD_WIRING=1: sshd configuration left untouched"
		return 0
	fi
	return 1
}

# match_users prints user names that Match blocks name directly or through a group, so that
# `sshd -T -C` is asked about each. This only picks what to ask; sshd's answer decides.
match_users() {
	for f in "$SSHD_CONFIG" /etc/ssh/sshd_config.d/*.conf; do
		[ -f "$f" ] || continue
		awk 'tolower($1) == "match" {
			for (i = 2; i < NF; i++) {
				k = tolower($i)
				if (k == "user" || k == "group") { n = split($(i+1), v, ","); for (j = 1; j <= n; j++) print k, v[j] }
			}
		}' "$f"
	done | while read -r kind name; do
		case $name in '!'* | *'*'* | *'?'*) continue ;; esac
		if [ "$kind" = user ]; then
			echo "$name"
		else
			getent group "$name" | awk -F: '{ n = split($4, m, ","); for (i = 1; i <= n; i++) print m[i] }'
		fi
	done
}

# effective prints "CONTEXT COMMAND" for every connection context checked, COMMAND being the
# first word of the AuthorizedKeysCommand sshd would use ("none" when unset). When sshd cannot
# evaluate its configuration it prints "error" and sshd's first error line, and fails.
effective() {
	users=$( { printf '%s\n' root ec2-user admin ubuntu debian centos rocky fedora; match_users; } | sort -u)
	if ! out=$("$SSHD" -T 2>&1); then
		printf 'error %s\n' "$(printf '%s\n' "$out" | sed -n 1p | tr -d '\r')"
		return 1
	fi
	printf 'global %s\n' "$(printf '%s\n' "$out" | awk '$1 == "authorizedkeyscommand" { print $2; exit }')"
	for u in $users; do
		if ! out=$("$SSHD" -T -C "user=$u,host=localhost,addr=127.0.0.1" 2>&1); then
			printf 'error %s\n' "$(printf '%s\n' "$out" | sed -n 1p | tr -d '\r')"
			return 1
		fi
		printf 'user=%s %s\n' "$u" "$(printf '%s\n' "$out" | awk '$1 == "authorizedkeyscommand" { print $2; exit }')"
	done
}

sshd_error() { printf '%s\n' "$1" | sed -n 's/^error //p'; }

is_eic() { [ "$1" = "$OURS" ] || [ "$1" = "$COMPAT1" ] || [ "$1" = "$COMPAT2" ]; }

# The systemd drop-in the official packages generate, byte for byte (deb: upstream postinst
# and Ubuntu's packaged file; rpm: the generic spec's %post after macro expansion).
official_dropin() {
	printf '%s\n%s\n%s\n' "[Service]" "ExecStart=" \
		"ExecStart=/usr/sbin/sshd -D -o \"AuthorizedKeysCommand $1 %%u %%f\" -o \"AuthorizedKeysCommandUser ec2-instance-connect\" \$SSHD_OPTS"
}

take_over_official() {
	reload_units=
	for dir in /lib /usr/lib /etc; do
		# With merged /usr, /lib is /usr/lib: look at each file once.
		if [ "$dir" = /lib ] && [ "$(cd /lib 2>/dev/null && pwd -P)" = /usr/lib ]; then continue; fi
		for unit in ssh sshd; do
			f=$dir/systemd/system/$unit.service.d/ec2-instance-connect.conf
			if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
			if official_dropin "$COMPAT2" | cmp -s - "$f" || official_dropin "$COMPAT1" | cmp -s - "$f"; then
				rm -f "$f"
				rmdir "$(dirname "$f")" 2>/dev/null || true
				reload_units=1
				log "removed $f, the official package's override, byte-identical to what it writes: sshd_config now decides the key command (the running sshd keeps using $COMPAT2 or $COMPAT1, now this package's helper, until its next start)"
			else
				log "left $f: it differs from what the official package writes, so someone changed it; its -o options override sshd_config at every sshd start, remove it yourself if this package should decide"
			fi
		done
	done
	if [ -n "$reload_units" ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		log "ran systemctl daemon-reload so systemd forgets the removed override"
	fi
}

reload_sshd() {
	if [ ! -d /run/systemd/system ]; then
		log "systemd is not running: reload a running sshd yourself (kill -HUP \"\$(cat /run/sshd.pid)\") to apply the change"
		return 0
	fi
	for unit in ssh.service sshd.service; do
		if systemctl is-active --quiet "$unit"; then
			systemctl reload "$unit"
			log "reloaded $unit so new connections use the change (never restarted: open sessions stay)"
			return 0
		fi
	done
	log "sshd is not running (or socket-activated): nothing to reload, it reads the change at its next start"
}

in_force() {
	if ! eff=$(effective); then
		log "cannot verify the wiring: sshd -T failed ($(sshd_error "$eff"))"
		return 1
	fi
	! printf '%s\n' "$eff" | awk -v ours="$OURS" '$2 != ours { bad = 1 } END { exit !bad }'
}

# undo_dropin removes the drop-in and, when this package created it, its directory.
undo_dropin() {
	rm -f "$DROPIN"
	if [ -n "$made_dir" ]; then rmdir "$(dirname "$DROPIN")" 2>/dev/null || true; fi
}

add_dropin() {
	made_dir=
	[ -d "$(dirname "$DROPIN")" ] || made_dir=1
	mkdir -p "$(dirname "$DROPIN")" "$STATE"
	settings >"$DROPIN"
	chmod 0644 "$DROPIN"
	if ! err=$("$SSHD" -t 2>&1); then
		undo_dropin
		log "removed $DROPIN again: sshd -t rejected it ($(printf '%s\n' "$err" | sed -n 1p))"
		return 1
	fi
	if ! in_force; then
		undo_dropin
		log "removed $DROPIN again: sshd -T does not show it in force, so $SSHD_CONFIG does not include sshd_config.d first"
		return 1
	fi
	# made-dir: removal takes away the directory too, so sshd's files are as before.
	echo "dropin $DROPIN${made_dir:+ made-dir}" >"$RECORD"
	log "wrote $DROPIN: sshd -T now shows $OURS as the AuthorizedKeysCommand"
}

add_block() {
	mkdir -p "$STATE"
	cp -p "$SSHD_CONFIG" "$BACKUP"
	tmp=$STATE/sshd_config.new
	{ echo "$BEGIN_MARK"; settings; echo "$END_MARK"; cat "$BACKUP"; } >"$tmp"
	# cat into the file keeps its owner, mode and security label.
	cat "$tmp" >"$SSHD_CONFIG"
	rm -f "$tmp"
	if ! err=$("$SSHD" -t 2>&1) || ! in_force; then
		cat "$BACKUP" >"$SSHD_CONFIG"
		rm -f "$BACKUP"
		log "restored $SSHD_CONFIG: with our block at its top sshd -t or -T disagreed (${err:-not in force}); wire sshd by hand"
		return 1
	fi
	echo "block $SSHD_CONFIG" >"$RECORD"
	log "added a marked block at the top of $SSHD_CONFIG (it includes no sshd_config.d first); the original is kept in $BACKUP"
}

wire() {
	opted_out && return 0
	if [ -f "$RECORD" ]; then
		log "sshd already wired by this package ($(cat "$RECORD")): nothing changed"
		return 0
	fi
	if ! eff=$(effective); then
		log "sshd -T failed ($(sshd_error "$eff")), so the configuration sshd enforces is unknown: sshd left untouched; fix it (sshd -t says why), then run sh $0 wire"
		return 0
	fi
	foreign=$(printf '%s\n' "$eff" | while read -r ctx cmd; do
		[ "$cmd" = none ] || is_eic "$cmd" || echo "$ctx: $cmd"
	done | sed -n 1p)
	if [ -n "$foreign" ]; then
		log "sshd already uses another AuthorizedKeysCommand ($foreign): left sshd untouched so those logins keep working"
		log "to add EC2 Instance Connect, chain that command from $OURS: name it in [chain] in /etc/eic-agent/config.toml and make $OURS the AuthorizedKeysCommand (see \"Chaining another key command\" in $DOCS)"
		return 0
	fi
	# Only now, with no other key command to protect: an official override left in place
	# keeps whatever it did so far, which is "change nothing" for a foreign command.
	take_over_official
	if ! printf '%s\n' "$eff" | awk '$2 == "none" { n = 1 } END { exit !n }'; then
		log "sshd already uses EC2 Instance Connect's command ($(printf '%s\n' "$eff" | awk '{ print $2; exit }')), which this package provides: left as it is"
		return 0
	fi
	if add_dropin || add_block; then
		reload_sshd
	else
		rmdir "$STATE" 2>/dev/null || true
	fi
}

upgrade() {
	if [ -f "$RECORD" ]; then
		log "upgrade: keeping the sshd wiring an earlier version made ($(cat "$RECORD")), with any local edits"
		return 0
	fi
	wire
}

unwire() {
	if opted_out; then
		if [ -f "$RECORD" ]; then
			log "what this package wired before the opt-out ($(cat "$RECORD")) stays: remove it yourself, the helper it names is going away"
		fi
		return 0
	fi
	if [ ! -f "$RECORD" ]; then
		log "this package did not wire sshd: nothing to undo"
		return 0
	fi
	read -r kind path extra <"$RECORD"
	case $kind in
	dropin)
		rm -f "$path"
		if [ "$extra" = made-dir ]; then rmdir "$(dirname "$path")" 2>/dev/null || true; fi
		log "removed $path: sshd no longer asks the removed helper"
		;;
	block)
		tmp=$STATE/sshd_config.new
		awk -v b="$BEGIN_MARK" -v e="$END_MARK" '$0 == b { skip = 1; next } skip && $0 == e { skip = 0; next } !skip' "$path" >"$tmp"
		cat "$tmp" >"$path"
		rm -f "$tmp"
		if cmp -s "$path" "$BACKUP"; then
			rm -f "$BACKUP"
			log "removed the marked block from $path: the file is again byte for byte what it was before install"
		else
			log "removed the marked block from $path; other lines changed since install are kept, the file as it was before is in $BACKUP"
		fi
		;;
	esac
	rm -f "$RECORD"
	rmdir "$STATE" 2>/dev/null || true
	reload_sshd
}

case ${1:-} in
account | wire | upgrade | unwire) "$1" ;;
*)
	echo "usage: sh $0 account|wire|upgrade|unwire" >&2
	exit 2
	;;
esac
