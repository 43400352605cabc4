#!/bin/sh
# Runs inside the booted container as eic-nspawn-check.service and records what it sees into
# /eic-results, which the host-side test reads after the container has powered off. It never
# stops at a failing step: every step's output and exit status is recorded, so the host test can
# say exactly which one misbehaved. Inputs come from /eic-in (read-only): keys and fingerprints.
R=/eic-results
IN=/eic-in
. "$IN/env"   # FP, FP_OTHER, OTHER_INSTANCE
touch "$R/started" # the container booted: from here on a failure is ours, not the host's

# step NAME CMD...: stdout to NAME.out, stderr to NAME.err, exit status to NAME.rc.
step() {
	name=$1
	shift
	"$@" >"$R/$name.out" 2>"$R/$name.err"
	echo $? >"$R/$name.rc"
}

step useradd-service useradd --system --no-create-home --home-dir /nonexistent \
	--shell /usr/sbin/nologin ec2-instance-connect
step useradd-ec2-user useradd --create-home --shell /bin/sh ec2-user

# IMDS at its real address, on this container's own loopback (--private-network).
step ip-addr ip addr add 169.254.169.254/32 dev lo
/usr/sbin/eic-emulator serve --imds 169.254.169.254:80 --control 127.0.0.1:8169 \
	--root-ca-out /etc/eic-agent/root.pem --ready-file /run/eic-emulator.ready \
	>"$R/emulator.log" 2>&1 &
i=0
while [ ! -s /run/eic-emulator.ready ] && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
test -s /run/eic-emulator.ready
echo $? >"$R/emulator-ready.rc"

# As a package would: enable the socket, then start the service (Type=notify: start returns
# once it is serving), so the helper's first question is answered by a running service.
step enable-socket systemctl enable --now eic-agent.socket
step start-service systemctl start eic-agent.service
# The warm-up (identity, signer) runs after READY=1; let it finish so its IMDS requests are not
# counted against a login below.
i=0
until journalctl -u eic-agent.service -o cat --no-pager | grep -q '^signer verified'; do
	[ $i -ge 100 ] && break
	sleep 0.1
	i=$((i + 1))
done

step push eic-emulator push --user ec2-user --key "$IN/key.pub"
step counts-before eic-emulator counts --reset
step helper-1 runuser -u ec2-instance-connect -- /usr/sbin/eic-authorized-keys ec2-user "$FP"
step counts-1 eic-emulator counts --reset
step helper-2 runuser -u ec2-instance-connect -- /usr/sbin/eic-authorized-keys ec2-user "$FP"
step counts-2 eic-emulator counts --reset

# A key signed for another instance must be refused, through the service too.
step push-other eic-emulator push --user ec2-user --key "$IN/other.pub" --instance-id "$OTHER_INSTANCE"
step helper-other runuser -u ec2-instance-connect -- /usr/sbin/eic-authorized-keys ec2-user "$FP_OTHER"

# IPAddressAllow/IPAddressDeny are enforced by a BPF program on the service's cgroup (cgroup v2
# and the bpf() system call needed). A shell moved into that cgroup must get EPERM sending a UDP
# datagram to an address outside the allow-list, where the same send from this unit's own
# cgroup (no filter) succeeds. UDP, because a dropped TCP SYN is retried rather than reported.
# timeout bounds each probe should something else hang.
step ip-addr-probe ip addr add 10.99.0.1/32 dev lo
cg=/sys/fs/cgroup$(systemctl show eic-agent.service -P ControlGroup)
step probe-unfiltered timeout 10 bash -c 'echo probe >/dev/udp/10.99.0.1/9'
step probe-service-cgroup timeout 10 bash -c 'echo $$ >"$1/cgroup.procs" && echo probe >/dev/udp/10.99.0.1/9' probe "$cg"
step probe-service-cgroup-loopback timeout 10 bash -c 'echo $$ >"$1/cgroup.procs" && echo probe >/dev/udp/127.0.0.1/9' probe "$cg"

step show systemctl show eic-agent.service -p ActiveState -p SubState -p Result -p NRestarts \
	-p ExecMainStatus
step show-socket systemctl show eic-agent.socket -p ActiveState -p SubState -p Result
step cgroup-mode stat -f -c %T /sys/fs/cgroup
# The host checks afterwards that nothing is left in these namespaces.
readlink /proc/self/ns/pid /proc/self/ns/net /proc/self/ns/mnt >"$R/namespaces"
journalctl --sync
step journal journalctl -t ec2-instance-connect -o json --no-pager
step journal-unit journalctl -u eic-agent.service -o short-precise --no-pager
step journal-all journalctl -b -o short-precise --no-pager
touch "$R/done"
