// Package nspawn proves eic-agent on real booted Debian systems, not only under
// `systemd-analyze verify` or in overlays without systemd. It boots debootstrapped roots with
// systemd-nspawn (systemd as PID 1) and, in them:
//   - TestUnitsUnderSystemd (Debian 12) installs the static binaries and the units from
//     systemd/ and logs a user in through the socket-activated service;
//   - TestPackagesOnDebian (Debian 11, 12 and 13, in parallel) installs the real .deb and .rpm
//     that `make packages` builds, next to Debian's own openssh-server, and checks install,
//     login, remove, purge, reinstall, upgrade, foreign key commands, the official package's
//     override, a main file without Include, and the opt-out;
//   - TestImageLoginFromReadme pastes README's "Test your image's login path locally" block, as
//     it stands, into bash against a Debian 12 image with the real .deb installed: the AWS CLI
//     pushes a key, ssh logs ec2-user in, journalctl shows the push's RequestId, and the stop
//     line the README gives leaves no process or mount behind.
//
// The emulator plays IMDS at 169.254.169.254 on each container's own loopback.
//
// Everything is in the tests, behind the build tag `nspawn` (`make nspawn`, as root). Each
// container has its own network namespace (--private-network): no packet leaves it. The roots
// are cached, one per suite (EIC_NSPAWN_CACHE, default /var/tmp/eic-nspawn/<suite>), and never
// written to: each run boots an overlay of one inside a private mount namespace, and checks
// afterwards that no mount or process is left on the host.
package nspawn
