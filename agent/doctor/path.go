package doctor

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/eic-agent/eic-agent/agent/sshdpath"
)

// CommandPath checks the helper's path the way sshd does before running it: symlinks resolved,
// the file and every directory above it up to / owned by root and writable by no group or
// other. sshd refuses the command otherwise, and logs it only at its own log level.
func (d *Doctor) CommandPath(ctx context.Context) Check {
	c := Check{Name: "command-path"}
	path := d.o.Helper
	if v, err := d.sshd.get(ctx, d.readSSHD); err == nil {
		if p, _, _ := strings.Cut(v.match["authorizedkeyscommand"], " "); d.ours(p) {
			path = p
		}
	}
	// Not executable says more than where the file sits.
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 == 0 {
		return fail(c, fmt.Sprintf("%s is not an executable file (mode %s)", path, st.Mode()),
			"reinstall eic-agent's package (the helper is installed mode 0755)")
	}
	real, err := sshdpath.Check(path)
	if u, isUnsafe := sshdpath.IsUnsafe(err); isUnsafe {
		where := u.Path
		if u.Dir {
			where = "its directory " + u.Path
		}
		return fail(c, fmt.Sprintf("sshd will refuse %s: %s %s", u.Of, where, u.Why), u.Fix())
	}
	if err != nil {
		return fail(c, err.Error(), "install eic-agent's package, or point AuthorizedKeysCommand at the helper's real path")
	}
	shown := path
	if real != path {
		shown = path + " -> " + real
	}
	return ok(c, fmt.Sprintf("%s and every directory above it are root-owned and not group or world writable", shown))
}
