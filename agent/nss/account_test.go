package nss

import (
	"strings"
	"testing"
)

// accountGetent answers passwd and shadow queries for alice from fixed lines.
func accountGetent(t *testing.T, passwd, shadow string) string {
	return fakeGetent(t, `case "$1 $3" in
"passwd alice") echo '`+passwd+`' ;;
"shadow alice") [ -n '`+shadow+`' ] || exit 2; echo '`+shadow+`' ;;
*) exit 2 ;;
esac`)
}

func TestLookupAccount(t *testing.T) {
	tests := []struct {
		name, passwd, user string
		want               Account
		found              bool
		wantErr            string
	}{
		{"entry-read", "alice:x:1001:1001::/home/alice:/usr/sbin/nologin", "alice",
			Account{Name: "alice", UID: 1001, Home: "/home/alice", Shell: "/usr/sbin/nologin"}, true, ""},
		{"missing-user-not-found", "", "bob", Account{}, false, ""},
		{"short-entry-refused", "alice:x:1001", "alice", Account{}, false, "has 3 fields"},
		{"bad-uid-refused", "alice:x:-1:1001::/:/bin/sh", "alice", Account{}, false, "uid"},
		{"option-like-name-never-run", "", "-alice", Account{}, false, "starts with '-'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Getent: accountGetent(t, tc.passwd, "")}
			got, found, err := LookupAccount(testContext(t), cfg, tc.user)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || found != tc.found || got != tc.want {
				t.Fatalf("LookupAccount = %+v, %v, %v; want %+v, %v, nil", got, found, err, tc.want, tc.found)
			}
		})
	}
}

func TestPasswordOf(t *testing.T) {
	tests := []struct {
		name, shadow string
		want         Password
	}{
		{"bang-is-locked", "alice:!:19000:0:99999:7:::", PasswordLocked},
		{"double-bang-is-locked", "alice:!!:19000::::::", PasswordLocked},
		{"locked-hash-is-locked", "alice:!$6$salt$hash:19000::::::", PasswordLocked},
		{"star-is-no-password", "alice:*:19000:0:99999:7:::", PasswordNone},
		{"empty-is-empty", "alice::19000:0:99999:7:::", PasswordEmpty},
		{"hash-is-set", "alice:$6$salt$hash:19000:0:99999:7:::", PasswordSet},
		{"unreadable-is-unknown", "", PasswordUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Getent: accountGetent(t, "", tc.shadow)}
			got, err := PasswordOf(testContext(t), cfg, "alice")
			if err != nil || got != tc.want {
				t.Fatalf("PasswordOf = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
