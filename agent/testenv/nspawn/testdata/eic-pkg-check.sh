#!/bin/sh
# Runs inside each booted Debian container as eic-nspawn-check.service: installs, upgrades and
# removes the real eic-agent .deb and .rpm next to Debian's own running sshd (ssh.service), and
# records every step into /eic-results for the host-side test (packages_test.go) to judge. It
# never stops at a failing step. Between scenarios the container goes back to its pristine
# state (package purged or erased, /etc/ssh as booted, sshd restarted) and records a snapshot
# that proves it. Inputs (read-only, /eic-in): new.deb, old.deb, new.rpm, old.rpm, the official
# package's systemd drop-in, env.
R=/eic-results
IN=/eic-in
# shellcheck source=/dev/null # written by the host test
. "$IN/env" # INSTANCE_ID
touch "$R/started" # the container booted: from here on a failure is ours, not the host's
export DEBIAN_FRONTEND=noninteractive

# step NAME CMD...: stdout to NAME.out, stderr to NAME.err, exit status to NAME.rc.
step() {
	name=$1
	shift
	"$@" >"$R/$name.out" 2>"$R/$name.err"
	echo $? >"$R/$name.rc"
}

# snap NAME records type, mode, owner, link target and SHA-256 of every file under the trees
# sshd reads (NAME.sshd: its configuration and its unit's drop-ins), under systemd's local unit
# directory, where enablement links live (NAME.units), and under the package's own
# configuration and state (NAME.ours). The host compares snapshots line by line.
SSHD_TREES="/etc/ssh /usr/lib/systemd/system/ssh.service.d /usr/lib/systemd/system/sshd.service.d /etc/systemd/system/ssh.service.d"
UNIT_TREES=/etc/systemd/system
OUR_TREES="/etc/eic-agent /var/lib/eic-agent"
tree() {
	# shellcheck disable=SC2086 # one word per tree; missing trees print nothing
	find $1 -printf '%y %m %u:%g %p %l\n' 2>/dev/null | sort
	# shellcheck disable=SC2086
	find $1 -type f -exec sha256sum {} + 2>/dev/null | sort -k 2
}
snap() {
	tree "$SSHD_TREES" >"$R/$1.sshd"
	tree "$UNIT_TREES" >"$R/$1.units"
	tree "$OUR_TREES" >"$R/$1.ours"
}

# ssh_up waits (at most 10 s) until sshd accepts connections again after a restart.
ssh_up() {
	i=0
	until timeout 2 bash -c '</dev/tcp/127.0.0.1/22' 2>/dev/null; do
		i=$((i + 1))
		[ $i -ge 100 ] && return 1
		sleep 0.1
	done
}

# restart_ssh restarts sshd (this script does it between scenarios; the package never does)
# and waits for it. reset-failed first: systemd refuses a sixth start within 10 s, and the
# scenarios follow each other faster than that.
restart_ssh() {
	systemctl reset-failed ssh.service
	systemctl restart ssh.service
	ssh_up
}

SSH_OPTS="-F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 -o LogLevel=ERROR"

# try_login NAME KEYFILE logs in as ec2-user with the real ssh. The package reloads sshd with
# SIGHUP, which sshd handles asynchronously (it re-executes itself), so a failed try is
# repeated every 0.5 s for at most 20 s; NAME.tries records how many it took.
try_login() {
	name=$1 key=$2 i=1
	while :; do
		# shellcheck disable=SC2086 # SSH_OPTS is one word per option
		timeout 30 ssh $SSH_OPTS -i "$key" ec2-user@127.0.0.1 echo logged-in >"$R/$name.out" 2>"$R/$name.err"
		rc=$?
		if [ $rc = 0 ] || [ $i -ge 40 ]; then break; fi
		i=$((i + 1))
		sleep 0.5
	done
	echo "$rc" >"$R/$name.rc"
	echo $i >"$R/$name.tries"
}

# eic_login NAME pushes a fresh key for ec2-user to the emulator and logs in with it; NAME.fp
# is its fingerprint, which the host looks for in the audit records.
eic_login() {
	rm -f "/root/keys/$1" "/root/keys/$1.pub"
	ssh-keygen -q -t ed25519 -N '' -C "$1" -f "/root/keys/$1"
	ssh-keygen -l -E sha256 -f "/root/keys/$1.pub" | awk '{ print $2 }' >"$R/$1.fp"
	step "$1-push" eic-emulator push --user ec2-user --key "/root/keys/$1.pub"
	try_login "$1" "/root/keys/$1"
}

# checks PREFIX records what an installed package must show: its units active (started by its
# scripts, never by this script), sshd -T globally and for ec2-user.
checks() {
	step "$1-active" systemctl is-active eic-agent.service eic-agent.socket
	# For the host's message when the state is not what it must be.
	step "$1-show" systemctl show eic-agent.service -p ActiveState -p SubState -p Result -p NRestarts -p ExecMainStatus
	step "$1-enabled" systemctl is-enabled eic-agent.service eic-agent.socket
	step "$1-sshd-T" sshd -T
	step "$1-sshd-T-user" sshd -T -C user=ec2-user,host=localhost,addr=127.0.0.1
}

# pristine NAME takes the container back to how it booted, then snapshots it. systemd refuses
# a sixth start of a unit within 10 s, and the scenarios install and start eic-agent faster
# than that, so its rate limit is reset too (reset-failed), as booting afresh would.
pristine() {
	dpkg --purge eic-agent >/dev/null 2>&1
	rpm -e eic-agent >/dev/null 2>&1
	systemctl reset-failed eic-agent.service eic-agent.socket >/dev/null 2>&1
	rm -rf /etc/ssh /usr/lib/systemd/system/ssh.service.d /etc/systemd/system/ssh.service.d \
		/etc/eic-agent /var/lib/eic-agent /usr/bin/sss_ssh_authorizedkeys
	cp -a /root/pristine-ssh /etc/ssh
	systemctl daemon-reload
	step "$1-ssh" restart_ssh
	snap "$1"
}

# --- Setup: IMDS, the platform evidence, the user, a key only a foreign command knows.
step ip-addr ip addr add 169.254.169.254/32 dev lo
# The package's default configuration must work as it is: the emulator's root goes into the
# system trust store, and the DMI board asset tag names the emulator's instance, as on Nitro
# (a tmpfs over the host's sysfs view, which may be a real instance's).
mkdir -p /etc/ssl/certs
step fake-sysfs sh -c "mount -t tmpfs -o mode=0755 tmpfs /sys/devices/virtual &&
	mkdir -p /sys/devices/virtual/dmi/id && echo '$INSTANCE_ID' >/sys/devices/virtual/dmi/id/board_asset_tag &&
	if [ -d /sys/hypervisor ]; then mount -t tmpfs tmpfs /sys/hypervisor; fi"
/usr/local/bin/eic-emulator serve --imds 169.254.169.254:80 --control 127.0.0.1:8169 --quiet \
	--root-ca-out /etc/ssl/certs/ca-certificates.crt --ready-file /run/eic-emulator.ready \
	>"$R/emulator.log" 2>&1 &
emulator=$!
i=0
while [ ! -s /run/eic-emulator.ready ] && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
test -s /run/eic-emulator.ready
echo $? >"$R/emulator-ready.rc"
# "*": no password, yet not locked.
step useradd-ec2-user sh -c "useradd --create-home --shell /bin/sh ec2-user && usermod -p '*' ec2-user"
mkdir -p /root/keys
ssh-keygen -q -t ed25519 -N '' -C foreign -f /root/keys/foreign
step ssh-up ssh_up
cp -a /etc/ssh /root/pristine-ssh
snap pristine
step versions dpkg-query -W openssh-server systemd rpm

# --- 1. Install, reinstall, remove, purge: with apt-get, as README's Install section says (the
# dependencies are in the root already, so apt needs no network).
snap install-before
step install apt-get install -y --no-install-recommends "$IN/new.deb"
checks install
step install-account getent passwd ec2-instance-connect
step install-shadow getent shadow ec2-instance-connect
eic_login install-login
snap install-after
step reinstall dpkg -i "$IN/new.deb"
snap reinstall-after
step reinstall-active systemctl is-active eic-agent.service eic-agent.socket
step remove apt-get remove -y eic-agent
step remove-active systemctl is-active eic-agent.service eic-agent.socket
snap remove-after
step purge apt-get purge -y eic-agent
snap purge-after
step purge-account getent passwd ec2-instance-connect
pristine reset-install

# --- 2. Upgrade from an older build, with the admin's edits to the config and to our drop-in.
step upgrade-old dpkg -i "$IN/old.deb"
echo '# edited by the admin' >>/etc/eic-agent/config.toml
echo '# edited by the admin' >>/etc/ssh/sshd_config.d/00-eic-agent.conf
snap upgrade-before
step upgrade dpkg -i "$IN/new.deb"
snap upgrade-after
# shellcheck disable=SC2016 # dpkg-query's own format
step upgrade-version dpkg-query -W -f '${Version}\n' eic-agent
checks upgrade
eic_login upgrade-login
pristine reset-upgrade

# --- 3. A foreign key command, SSSD-style: a global line in a drop-in, then in a Match block
# of the main file. Only sss_ssh_authorizedkeys (a stand-in printing a fixed key) knows the
# foreign key, so its logins prove that command still runs.
foreign() {
	printf '#!/bin/sh\necho "%s"\n' "$(cat /root/keys/foreign.pub)" >/usr/bin/sss_ssh_authorizedkeys
	chmod 0755 /usr/bin/sss_ssh_authorizedkeys
	systemctl reload ssh.service
	try_login "$1-login-before" /root/keys/foreign
	snap "$1-before"
	step "$1-install" dpkg -i "$IN/new.deb"
	snap "$1-after"
	step "$1-sshd-T-user" sshd -T -C user=ec2-user,host=localhost,addr=127.0.0.1
	try_login "$1-login-after" /root/keys/foreign
}
printf 'AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %%u\nAuthorizedKeysCommandUser nobody\n' \
	>/etc/ssh/sshd_config.d/50-sssd.conf
foreign sssd-global
pristine reset-sssd-global
printf 'Match User ec2-user\n\tAuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %%u\n\tAuthorizedKeysCommandUser nobody\n' \
	>>/etc/ssh/sshd_config
foreign sssd-match
pristine reset-sssd-match

# --- 4. The official package's generated override, in force in the running sshd.
mkdir -p /usr/lib/systemd/system/ssh.service.d
cp "$IN/official-dropin.conf" /usr/lib/systemd/system/ssh.service.d/ec2-instance-connect.conf
systemctl daemon-reload
step official-ssh restart_ssh
# shellcheck disable=SC2016 # expanded by that sh
step official-cmdline sh -c 'tr "\0" " " </proc/$(systemctl show -P MainPID ssh.service)/cmdline'
snap official-before
step official-install dpkg -i "$IN/new.deb"
snap official-after
checks official
eic_login official-login
pristine reset-official

# --- 5. A main file without its Include line: the marked block at its top.
sed -i '/^Include /d' /etc/ssh/sshd_config
systemctl reload ssh.service
snap noinclude-before
step noinclude-install dpkg -i "$IN/new.deb"
step noinclude-head head -n 1 /etc/ssh/sshd_config
checks noinclude
eic_login noinclude-login
step noinclude-remove dpkg -r eic-agent
snap noinclude-after
pristine reset-noinclude

# --- 6. The opt-out: a file before install, or the variable in dpkg's environment.
mkdir -p /etc/eic-agent
touch /etc/eic-agent/no-sshd-wiring
snap optout-file-before
step optout-file-install dpkg -i "$IN/new.deb"
snap optout-file-after
step optout-file-remove dpkg -r eic-agent
pristine reset-optout-file
snap optout-env-before
step optout-env-install env EIC_AGENT_NO_SSHD_WIRING=1 apt-get install -y --no-install-recommends "$IN/new.deb"
snap optout-env-after
step optout-env-remove env EIC_AGENT_NO_SSHD_WIRING=1 dpkg -r eic-agent
pristine reset-optout-env

# --- 7. The .rpm's scriptlets (rpm -i --nodeps: Debian's rpm database knows no openssh-server):
# install, erase, then an upgrade from the older build (new %post 2, old %preun 1, old
# %postun 1) and an erase after it.
snap rpm-before
step rpm-install rpm -i --nodeps "$IN/new.rpm"
checks rpm-install
eic_login rpm-install-login
step rpm-erase rpm -e eic-agent
step rpm-erase-active systemctl is-active eic-agent.service eic-agent.socket
snap rpm-erase-after
step rpm-old rpm -i --nodeps "$IN/old.rpm"
snap rpm-upgrade-before
step rpm-upgrade rpm -U --nodeps "$IN/new.rpm"
snap rpm-upgrade-after
step rpm-upgrade-version rpm -q eic-agent
checks rpm-upgrade
eic_login rpm-upgrade-login
step rpm-erase2 rpm -e eic-agent
snap rpm-erase2-after
pristine reset-rpm

# --- What the host reads besides the steps.
# The host checks afterwards that nothing is left in these namespaces.
readlink /proc/self/ns/pid /proc/self/ns/net /proc/self/ns/mnt >"$R/namespaces"
journalctl --sync
step journal journalctl -t ec2-instance-connect -o json --no-pager
step journal-ssh journalctl -u ssh.service -o short-precise --no-pager
step journal-eic journalctl -u eic-agent.service -u eic-agent.socket -o short-precise --no-pager
step journal-all journalctl -b -o short-precise --no-pager
# What is still running in this unit's cgroup besides this script: the emulator, and whatever a
# scenario left behind. Recorded for the host, then stopped, so that the unit's stop (and with
# it the power-off) has nothing left to wait for.
kill "$emulator"
wait "$emulator"
cg=/sys/fs/cgroup$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
while read -r pid; do
	[ "$pid" = $$ ] && continue
	args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
	echo "$pid $args"
	kill "$pid" 2>/dev/null
done <"$cg/cgroup.procs" >"$R/leftover"
touch "$R/done"
