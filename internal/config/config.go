// Package config gives packetd's settings three more sources than its
// command line: a YAML file, the environment, and the defaults, one
// flag.FlagSet holding them all. Every flag is a setting: the key of the
// same name in the file (max-conns: 5000), and the environment variable
// PACKETD_ and the name in capitals with underscores (PACKETD_MAX_CONNS).
// The command line wins over the environment, which wins over the file,
// which wins over the defaults (docs/CONFIG.md).
//
// The file is read with koanf (github.com/knadh/koanf/v2) and its YAML
// parser; each value is then set through its flag, so that a file and
// a command line accept the same values and fail with the same reasons.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts the environment variables that set packetd's flags.
const EnvPrefix = "PACKETD_"

// FileFlag is the flag, and EnvFile the variable, that names the file.
const (
	FileFlag = "config"
	EnvFile  = EnvPrefix + "CONFIG"
)

// Source says where a setting's value came from.
type Source string

// The sources, in rising precedence.
const (
	FromDefault Source = "default"
	FromFile    Source = "file"
	FromEnv     Source = "env"
	FromFlag    Source = "flag"
)

// Loaded is the outcome of Load: the file read ("" if none) and where
// each flag's value came from.
type Loaded struct {
	File    string
	Sources map[string]Source
}

// Options tunes Load.
type Options struct {
	// Environ lists the environment as "KEY=value" strings; nil means
	// none (pass os.Environ()).
	Environ []string
	// Skip names flags that are not settings (-config itself, -version,
	// -print-config): the file and the environment cannot set them.
	Skip []string
}

// Load parses args into fs and then, for every flag args did not set,
// applies the environment and, under it, the file named by -config or
// PACKETD_CONFIG. fs must define FileFlag. Errors name the key or
// variable and the reason; fs's own parse errors are returned as they
// are (flag.ErrHelp included).
func Load(fs *flag.FlagSet, args []string, o Options) (*Loaded, error) {
	if fs.Lookup(FileFlag) == nil {
		return nil, fmt.Errorf("config: the flag set has no -%s", FileFlag)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ld := &Loaded{Sources: map[string]Source{}}
	fs.VisitAll(func(f *flag.Flag) { ld.Sources[f.Name] = FromDefault })
	fs.Visit(func(f *flag.Flag) { ld.Sources[f.Name] = FromFlag })
	skip := func(name string) bool { return name == FileFlag || slices.Contains(o.Skip, name) }

	env, err := fromEnv(fs, o.Environ, skip)
	if err != nil {
		return nil, err
	}
	ld.File = fs.Lookup(FileFlag).Value.String()
	if ld.File == "" {
		ld.File = env[FileFlag]
	}
	delete(env, FileFlag)
	if ld.File != "" {
		values, err := readFile(ld.File)
		if err != nil {
			return nil, err
		}
		for _, key := range sortedKeys(values) {
			f := fs.Lookup(key)
			if f == nil || skip(key) {
				return nil, fmt.Errorf("%s: %s: no such setting%s", ld.File, key, suggest(fs, key))
			}
			if _, inEnv := env[key]; inEnv || ld.Sources[key] == FromFlag {
				continue // a higher source sets it
			}
			for _, v := range values[key] {
				if err := fs.Set(key, v); err != nil {
					return nil, fmt.Errorf("%s: %s: %s", ld.File, key, reason(f, v, err))
				}
			}
			ld.Sources[key] = FromFile
		}
	}
	for _, key := range sortedKeys(env) {
		if ld.Sources[key] == FromFlag {
			continue
		}
		if err := fs.Set(key, env[key]); err != nil {
			return nil, fmt.Errorf("%s: %s", envName(key), reason(fs.Lookup(key), env[key], err))
		}
		ld.Sources[key] = FromEnv
	}
	return ld, nil
}

// fromEnv returns the settings the environment gives, by flag name
// (FileFlag for PACKETD_CONFIG). A PACKETD_ variable that names no
// setting is an error: a typo would otherwise go unnoticed.
func fromEnv(fs *flag.FlagSet, environ []string, skip func(string) bool) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		if name == EnvFile {
			out[FileFlag] = value
			continue
		}
		key := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, EnvPrefix), "_", "-"))
		if fs.Lookup(key) == nil || skip(key) {
			return nil, fmt.Errorf("%s: no such setting (it would be the key %q)%s", name, key, suggest(fs, key))
		}
		out[key] = value
	}
	return out, nil
}

// envName returns the environment variable of a flag.
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// readFile reads a YAML file into flat keys, each with its values as the
// command line would give them (a list sets a repeatable flag once per
// element).
func readFile(path string) (map[string][]string, error) {
	k := koanf.New(".")
	if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := map[string][]string{}
	for key, v := range k.Raw() { // the top level: keys are flat
		vs, err := values(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", path, key, err)
		}
		out[key] = vs
	}
	return out, nil
}

// values turns a YAML value into flag values.
func values(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, errors.New("no value (write \"\" for an empty one)")
	case []any:
		var out []string
		for _, e := range v {
			s, err := values(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	case map[string]any:
		return nil, errors.New("a section: settings are flat, one key per flag (tcp-loops: 2, not tcp: {loops: 2})")
	case string:
		return []string{v}, nil
	case bool:
		return []string{strconv.FormatBool(v)}, nil
	case int:
		return []string{strconv.Itoa(v)}, nil
	case int64:
		return []string{strconv.FormatInt(v, 10)}, nil
	case uint64:
		return []string{strconv.FormatUint(v, 10)}, nil
	case float64:
		return []string{strconv.FormatFloat(v, 'f', -1, 64)}, nil
	default:
		return []string{fmt.Sprint(v)}, nil
	}
}

// reason says why value does not suit f: the error of its Set, and
// what the flag is.
func reason(f *flag.Flag, value string, err error) string {
	return fmt.Sprintf("%q: %v (%s)", value, err, f.Usage)
}

// suggest returns ", did you mean X?" for a key close to a flag's name.
func suggest(fs *flag.FlagSet, key string) string {
	best, bestD := "", 3
	fs.VisitAll(func(f *flag.Flag) {
		if d := distance(key, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %s?", best)
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Print writes the effective settings as a YAML file that Load reads back
// to the same values: every flag but the skipped ones, sorted, each with
// its source in a comment.
func Print(w io.Writer, fs *flag.FlagSet, ld *Loaded, skip ...string) error {
	var b strings.Builder
	b.WriteString("# packetd's effective settings: key: value  # source\n")
	if ld.File != "" {
		fmt.Fprintf(&b, "# file: %s\n", ld.File)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == FileFlag || slices.Contains(skip, f.Name) {
			return
		}
		fmt.Fprintf(&b, "%s: %s  # %s\n", f.Name, yamlScalar(f), ld.Sources[f.Name])
	})
	_, err := io.WriteString(w, b.String())
	return err
}

// yamlScalar returns a flag's value as a YAML scalar: booleans and
// integers bare, everything else double-quoted (a YAML double-quoted
// string reads like a Go one for the characters flags hold); a
// repeatable flag (its Value has Strings() []string) as a list.
func yamlScalar(f *flag.Flag) string {
	if l, ok := f.Value.(interface{ Strings() []string }); ok { // repeatable
		q := make([]string, 0, len(l.Strings()))
		for _, e := range l.Strings() {
			q = append(q, strconv.Quote(e))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	v := f.Value.String()
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		return v
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v
	}
	return strconv.Quote(v)
}
