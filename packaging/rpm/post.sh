#!/bin/sh
# eic-agent %post: $1 is the number of instances after this transaction: 1 on install,
# 2 or more on upgrade, where what an earlier version wired (and local edits) is kept.
lib=/usr/share/eic-agent
sh "$lib/sshd-wiring.sh" account || exit 1
if [ "${1:-1}" -ge 2 ]; then
	sh "$lib/systemd-units.sh" upgrade
	sh "$lib/sshd-wiring.sh" upgrade
else
	sh "$lib/systemd-units.sh" install
	sh "$lib/sshd-wiring.sh" wire
fi
