#!/bin/sh
# eic-agent %postun: on erase ($1 = 0) remove our state; /etc/eic-agent's config files are
# %config and rpm saves edited ones as .rpmsave. The account stays, locked.
if [ "${1:-0}" -eq 0 ]; then
	rm -rf /var/lib/eic-agent
	echo "eic-agent: erase removed /var/lib/eic-agent; the locked account ec2-instance-connect stays, files may still belong to it" >&2
fi
