#!/bin/sh
# eic-agent %postun: on erase ($1 = 0) systemd forgets the removed units and our state goes;
# /etc/eic-agent's config files are %config and rpm saves edited ones as .rpmsave. The account
# stays, locked.
if [ "${1:-0}" -eq 0 ]; then
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
		echo "eic-agent: ran systemctl daemon-reload so systemd forgets the removed units" >&2
	fi
	rm -rf /var/lib/eic-agent
	echo "eic-agent: erase removed /var/lib/eic-agent; the locked account ec2-instance-connect stays, files may still belong to it" >&2
fi
