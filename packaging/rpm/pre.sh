#!/bin/sh
# eic-agent %pre: nothing to do before the files are in place; %post creates the account and
# wires sshd with the sshd-wiring.sh this package ships.
exit 0
