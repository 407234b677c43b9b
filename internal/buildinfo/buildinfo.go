// Package buildinfo tells the commands' version from the build: the module
// version, or "devel" plus the VCS revision the binary was built from.
package buildinfo

import "runtime/debug"

// Version returns the module version ("v1.2.3"), or for a build from a
// checkout "devel+<12 hex digits of the revision>", with "-dirty" if the
// tree had changes; "unknown" without build information.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			v += "+" + s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			v += "-dirty"
		}
	}
	return v
}
