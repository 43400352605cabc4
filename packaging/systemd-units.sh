#!/bin/sh
# eic-agent's systemd units, shared by the .deb and .rpm maintainer scripts.
# Installed as /usr/share/eic-agent/systemd-units.sh; run, never sourced:
#   sh /usr/share/eic-agent/systemd-units.sh install   apply the preset, start what it enabled
#   sh /usr/share/eic-agent/systemd-units.sh upgrade   restart a running service on the new binary
#   sh /usr/share/eic-agent/systemd-units.sh remove    stop and disable the socket and service
# Every step logs one line to stderr. A failure here is logged, never fatal to the package:
# without the service the helper verifies each login itself, so logins keep working.
set -u

SOCKET=eic-agent.socket
SERVICE=eic-agent.service
PRESET=/usr/lib/systemd/system-preset/90-eic-agent.preset

log() { printf 'eic-agent: %s\n' "$*" >&2; }

# booted: systemd is PID 1 here (not an image build's chroot, not a container without it).
booted() { [ -d /run/systemd/system ]; }

# oneline joins a command's output into one line for the log.
oneline() { printf '%s\n' "$1" | tr '\n' ' ' | sed 's/ *$//'; }

have_systemctl() {
	if command -v systemctl >/dev/null 2>&1; then return 0; fi
	log "no systemctl: the warm service is not enabled; the helper verifies each login itself"
	return 1
}

install() {
	have_systemctl || return 0
	# A running systemd must know the new unit files before preset asks it about them.
	if booted; then systemctl daemon-reload; fi
	# preset, not enable: a local preset (a 'disable eic-agent.*' line in /etc/systemd/system-preset)
	# wins over ours, so an image that wants the service off gets it off. Works offline too.
	if out=$(systemctl preset "$SOCKET" "$SERVICE" 2>&1); then
		log "applied the systemd presets to $SOCKET and $SERVICE ($PRESET enables both unless a local preset says otherwise)"
	else
		log "systemctl preset failed ($(oneline "$out")): run systemctl enable --now $SOCKET $SERVICE to use the warm service"
		return 0
	fi
	if ! booted; then
		log "systemd is not running (an image build or a chroot): what the presets enabled starts at the next boot"
		return 0
	fi
	started=
	# The socket first: the service is Type=notify and takes its listener from the socket.
	for unit in "$SOCKET" "$SERVICE"; do
		systemctl is-enabled --quiet "$unit" || continue
		if out=$(systemctl start "$unit" 2>&1); then
			started="$started $unit"
		else
			log "could not start $unit ($(oneline "$out")): systemctl status $unit says why; logins still work without it"
		fi
	done
	if [ -n "$started" ]; then
		log "started$started"
	else
		log "started nothing: a local preset disables $SOCKET and $SERVICE"
	fi
}

upgrade() {
	have_systemctl || return 0
	if ! booted; then
		log "systemd is not running: the new version starts at the next boot"
		return 0
	fi
	systemctl daemon-reload
	# Enablement is left as the admin set it; only a running service is restarted, and the
	# socket stays, so no login meets a closed socket.
	if systemctl is-active --quiet "$SERVICE"; then
		if out=$(systemctl restart "$SERVICE" 2>&1); then
			log "restarted $SERVICE on the new version (enablement kept as it was)"
		else
			log "could not restart $SERVICE ($(oneline "$out")): systemctl status $SERVICE says why; logins still work without it"
		fi
	else
		log "$SERVICE is not running: left stopped (enablement kept as it was)"
	fi
}

remove() {
	have_systemctl || return 0
	if booted; then
		if out=$(systemctl stop "$SERVICE" "$SOCKET" 2>&1); then
			log "stopped $SERVICE and $SOCKET"
		else
			log "could not stop $SERVICE and $SOCKET ($(oneline "$out"))"
		fi
	fi
	if out=$(systemctl disable "$SOCKET" "$SERVICE" 2>&1); then
		log "disabled $SOCKET and $SERVICE"
	else
		log "could not disable $SOCKET and $SERVICE ($(oneline "$out")): their links in /etc/systemd/system may stay"
	fi
}

case ${1:-} in
install | upgrade | remove) "$1" ;;
*)
	echo "usage: sh $0 install|upgrade|remove" >&2
	exit 2
	;;
esac
