// Package nspawn proves that eic-agent's hardened systemd units work under a real systemd, not
// only under `systemd-analyze verify`: it boots the cached Debian 12 root with systemd-nspawn, installs the
// static binaries and the units from systemd/ as a package would, and logs a user in through the
// socket-activated service with the emulator playing IMDS at 169.254.169.254.
//
// Everything is in the test, behind the build tag `nspawn` (`make nspawn`, as root). The
// container has its own network namespace (--private-network): no packet leaves it. The
// debootstrapped roots are cached, one per suite (EIC_NSPAWN_CACHE, default
// /var/tmp/eic-nspawn/<suite>), and never
// written to: each run boots an overlay of it inside a private mount namespace, and checks
// afterwards that no mount or process is left on the host.
package nspawn
