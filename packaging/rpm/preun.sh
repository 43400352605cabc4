#!/bin/sh
# eic-agent %preun: $1 is 0 on erase; on upgrade (1) the old version's %preun runs after the
# new %post and must undo nothing.
if [ "${1:-0}" -eq 0 ]; then
	sh /usr/share/eic-agent/sshd-wiring.sh unwire
	sh /usr/share/eic-agent/systemd-units.sh remove
fi
