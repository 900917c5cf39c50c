package deploy

// No container engine or cluster runs where these tests do, so the packaging is checked
// statically: the Dockerfile, docker-compose.yml and every manifest in deploy/k8s are parsed
// and held against the real binary, built from ./cmd/reins and asked for its subcommands and
// flags (`reins COMMAND -h`), and against the REINS_* variables DefaultConfig reads
// (cmd/reins/config.go). TestBrokenPackagingFails shows that every check can fail.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reins-dev/reins/reinstest"
	"gopkg.in/yaml.v3"
)

// drainMargin is how much longer than the drain (--grace) a supervisor must wait before it
// kills: the process needs a moment after the drain to close the database and exit.
const drainMargin = 5 * time.Second

// serverCommands are the subcommands that serve HTTP on --addr and drain on SIGTERM.
var serverCommands = []string{"serve", "worker"}

// containerCommands are the subcommands a container may run.
var containerCommands = []string{"serve", "worker", "migrate"}

// probeCommand is the subcommand compose health checks run inside the image (distroless
// has no shell, curl or wget): `reins probe [--timeout D] URL` exits 0 when URL answers
// HTTP 200 and 1 otherwise.
const probeCommand = "probe"

// ---------------------------------------------------------------------------------------
// The binary.

// flagInfo is one flag of a subcommand, as `reins COMMAND -h` prints it.
type flagInfo struct {
	typ string // Go flag type name ("string", "int", "duration", ...); "" for a bool
	def string // default with no REINS_* variable set
	env string // the REINS_* equivalent the usage names, if any
}

// binary is what the real reins binary accepts.
type binary struct {
	path     string
	commands map[string]map[string]flagInfo // subcommand → flags
	envKinds map[string]string              // REINS_* variables DefaultConfig reads → string, int or duration
}

func (b *binary) has(cmd string) bool { _, ok := b.commands[cmd]; return ok }

var (
	binDir    string
	binOnce   sync.Once
	binResult *binary
	binErr    error
)

func TestMain(m *testing.M) { reinstest.MainWithTempDir(m, &binDir) }

// repoRoot is the module root: the test runs in deploy/.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// reinsBinary builds ./cmd/reins once and reads its subcommands and flags. It builds with
// the test binary's own -race and -tags, so under `go test -race ./...` the build reuses the
// packages just compiled instead of compiling the SQLite driver again.
func reinsBinary(t *testing.T) *binary {
	t.Helper()
	root := repoRoot(t)
	binOnce.Do(func() { binResult, binErr = loadBinary(root) })
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binResult
}

func loadBinary(root string) (*binary, error) {
	bin, err := reinstest.BuildReins(binDir)
	if err != nil {
		return nil, err
	}
	b := &binary{path: bin, commands: map[string]map[string]flagInfo{}}
	for _, cmd := range []string{"serve", "worker", "migrate", "seed", probeCommand} {
		c := exec.Command(bin, cmd, "-h")
		c.Env = envWithoutReins()
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		if strings.Contains(out.String(), "unknown command") {
			continue
		}
		if err != nil {
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				return nil, fmt.Errorf("reins %s -h: %v", cmd, err)
			}
		}
		b.commands[cmd] = parseFlagHelp(out.String())
	}
	for _, cmd := range append(slices.Clone(containerCommands), probeCommand) {
		if !b.has(cmd) {
			return nil, fmt.Errorf("the binary has no %q subcommand", cmd)
		}
	}
	src, err := os.ReadFile(filepath.Join(root, "cmd", "reins", "config.go"))
	if err != nil {
		return nil, err
	}
	if b.envKinds, err = parseEnvKinds(string(src)); err != nil {
		return nil, err
	}
	return b, nil
}

// envWithoutReins is the test's environment with no REINS_* variable, so -h shows the
// built-in defaults.
func envWithoutReins() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REINS_") {
			env = append(env, kv)
		}
	}
	return env
}

var (
	flagLine   = regexp.MustCompile(`^  -([^\s=]+)(?: (\S+))?(?:\t(.*))?$`)
	defaultRe  = regexp.MustCompile(`\(default (.+)\)\s*$`)
	usageEnvRe = regexp.MustCompile(`\((REINS_[A-Z0-9_]+)\)`)
)

// parseFlagHelp reads the flags Go's flag package prints (PrintDefaults format).
func parseFlagHelp(help string) map[string]flagInfo {
	flags := map[string]flagInfo{}
	var name string
	var usage strings.Builder
	finish := func() {
		if name == "" {
			return
		}
		f := flags[name]
		u := usage.String()
		if m := defaultRe.FindStringSubmatch(u); m != nil {
			f.def = m[1]
			if s, err := strconv.Unquote(f.def); err == nil {
				f.def = s
			}
		}
		if m := usageEnvRe.FindStringSubmatch(u); m != nil {
			f.env = m[1]
		}
		flags[name] = f
		name = ""
		usage.Reset()
	}
	for _, line := range strings.Split(help, "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			finish()
			name = m[1]
			flags[name] = flagInfo{typ: m[2]}
			usage.WriteString(m[3])
			continue
		}
		if name != "" && strings.HasPrefix(line, "    \t") {
			usage.WriteString(" " + strings.TrimPrefix(line, "    \t"))
			continue
		}
		finish()
	}
	finish()
	return flags
}

var envReadRe = regexp.MustCompile(`\b(env|envInt|envDuration)\(\s*"(REINS_[A-Z0-9_]+)"`)

// parseEnvKinds returns the REINS_* variables DefaultConfig reads, with the kind of value
// each must hold.
func parseEnvKinds(configGo string) (map[string]string, error) {
	start := strings.Index(configGo, "func DefaultConfig(")
	if start < 0 {
		return nil, errors.New("cmd/reins/config.go has no DefaultConfig")
	}
	body := configGo[start:]
	if end := strings.Index(body, "\n}\n"); end >= 0 {
		body = body[:end]
	}
	kinds := map[string]string{}
	for _, m := range envReadRe.FindAllStringSubmatch(body, -1) {
		kinds[m[2]] = map[string]string{"env": "string", "envInt": "int", "envDuration": "duration"}[m[1]]
	}
	for _, m := range regexp.MustCompile(`"(REINS_[A-Z0-9_]+)"`).FindAllStringSubmatch(body, -1) {
		if _, ok := kinds[m[1]]; !ok {
			kinds[m[1]] = "string"
		}
	}
	if len(kinds) == 0 {
		return nil, errors.New("DefaultConfig reads no REINS_* variable: has config.go changed shape?")
	}
	return kinds, nil
}

// ---------------------------------------------------------------------------------------
// Commands, flags and settings.

// problems collects what is wrong, each naming where.
type problems []error

func (p *problems) addf(where, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
}

func (p *problems) add(errs ...error) { *p = append(*p, errs...) }

// parsedArgs is a command line parsed the way the binary's flag set parses it.
type parsedArgs struct {
	cmd        string
	flags      map[string]string // last value of each flag given
	positional []string
}

// checkArgs checks that argv (the arguments after the entrypoint) runs one of the allowed
// subcommands with flags that subcommand has, each with a value of the right type.
func (b *binary) checkArgs(where string, argv []string, allowed ...string) (parsedArgs, problems) {
	var p problems
	pa := parsedArgs{flags: map[string]string{}}
	if len(argv) == 0 {
		p.addf(where, "no subcommand: the binary needs one of %v", allowed)
		return pa, p
	}
	pa.cmd = argv[0]
	if !slices.Contains(allowed, pa.cmd) {
		p.addf(where, "%q is not a subcommand this container may run (want one of %v)", pa.cmd, allowed)
		return pa, p
	}
	if !b.has(pa.cmd) {
		p.addf(where, "the binary has no %q subcommand", pa.cmd)
		return pa, p
	}
	flags := b.commands[pa.cmd]
	args := argv[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pa.positional = args[i+1:]
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pa.positional = args[i:]
			break
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		f, ok := flags[name]
		if name == "" || strings.HasPrefix(name, "-") || !ok {
			p.addf(where, "%s is not a flag of `reins %s` (it has %s)", a, pa.cmd, flagNames(flags))
			continue
		}
		if f.typ == "" { // bool
			if hasValue {
				if _, err := strconv.ParseBool(value); err != nil {
					p.addf(where, "%s: %q is not a boolean", a, value)
				}
			} else {
				value = "true"
			}
		} else if !hasValue {
			if i+1 == len(args) {
				p.addf(where, "flag --%s has no value", name)
				continue
			}
			i++
			value = args[i]
		}
		if err := checkValue(f.typ, value); err != nil {
			p.addf(where, "--%s %q: %v", name, value, err)
		}
		pa.flags[name] = value
	}
	switch {
	case pa.cmd == probeCommand:
		if len(pa.positional) != 1 {
			p.addf(where, "`reins %s` takes one URL, got %q", probeCommand, pa.positional)
		}
	case len(pa.positional) > 0:
		p.addf(where, "`reins %s` takes no arguments besides flags, got %q", pa.cmd, pa.positional)
	}
	return pa, p
}

func flagNames(flags map[string]flagInfo) string {
	var names []string
	for n := range flags {
		names = append(names, "--"+n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// checkValue checks a flag or variable value parses as its type.
func checkValue(typ, value string) error {
	var err error
	switch typ {
	case "int", "int64", "uint", "uint64":
		_, err = strconv.ParseInt(value, 10, 64)
		if err != nil {
			err = errors.New("not a whole number")
		}
	case "duration":
		_, err = time.ParseDuration(value)
		if err != nil {
			err = errors.New("not a duration such as 25s")
		}
	case "float", "float64":
		_, err = strconv.ParseFloat(value, 64)
	case "":
		_, err = strconv.ParseBool(value)
	}
	return err
}

// checkEnv checks every REINS_* variable is one DefaultConfig reads, with a value it parses.
func (b *binary) checkEnv(where string, env map[string]string) problems {
	var p problems
	for _, k := range sortedKeys(env) {
		if !strings.HasPrefix(k, "REINS_") {
			continue
		}
		kind, ok := b.envKinds[k]
		if !ok {
			p.addf(where, "sets %s, which the binary does not read (DefaultConfig reads %s)", k, strings.Join(sortedKeys(b.envKinds), ", "))
			continue
		}
		if err := checkValue(kind, env[k]); err != nil && kind != "string" {
			p.addf(where, "%s=%q: %v", k, env[k], err)
		}
	}
	return p
}

// setting is the value a process started with args and env uses for a flag: the flag,
// else its REINS_* variable, else the default.
func (b *binary) setting(args parsedArgs, env map[string]string, flag string) string {
	if v, ok := args.flags[flag]; ok {
		return v
	}
	f := b.commands[args.cmd][flag]
	if v, ok := env[f.env]; ok && f.env != "" {
		return v
	}
	return f.def
}

// listenPort is the port of a HOST:PORT address; the host must accept connections from
// outside the container (a loopback host is unreachable for probes and peers).
func listenPort(addr string) (int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("address %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return 0, fmt.Errorf("address %q listens on loopback only: nothing outside the container reaches it", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("address %q: need a fixed port", addr)
	}
	return n, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---------------------------------------------------------------------------------------
// Dockerfile.

// image is what the final stage of the Dockerfile gives a container.
type image struct {
	entrypoint []string
	cmd        []string
	env        map[string]string
	user       string
	expose     []int
	volumes    []string
}

type instruction struct {
	op, rest string
	line     int
}

type stage struct {
	base, name string
	instrs     []instruction
}

// parseDockerfile reads the stages and checks the build (static, CGO off) and the final
// image (minimal base, non-root, exec-form entrypoint on the built binary).
func parseDockerfile(text string) (image, problems) {
	const where = "Dockerfile"
	var p problems
	img := image{env: map[string]string{}}
	var stages []stage
	var pending string
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if pending == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, pending = pending+line, ""
		op, rest, _ := strings.Cut(line, " ")
		in := instruction{op: strings.ToUpper(op), rest: strings.TrimSpace(rest), line: i + 1}
		if in.op == "FROM" {
			f := strings.Fields(in.rest)
			s := stage{}
			for _, w := range f {
				if !strings.HasPrefix(w, "--") {
					s.base = w
					break
				}
			}
			if n := len(f); n >= 3 && strings.EqualFold(f[n-2], "AS") {
				s.name = f[n-1]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.op != "ARG" {
				p.addf(where, "line %d: %s before FROM", in.line, in.op)
			}
			continue
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	if len(stages) < 2 {
		p.addf(where, "want a multi-stage build (a Go build stage, then a minimal final stage), got %d stage(s)", len(stages))
		return img, p
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.base, "gcr.io/distroless/") && final.base != "scratch" {
		p.addf(where, "the final stage is FROM %s: want a minimal base (gcr.io/distroless/static or scratch)", final.base)
	}

	// The build: a static binary from ./cmd/reins.
	var built, builtIn string
	for si, s := range stages[:len(stages)-1] {
		cgoOff := false
		for _, in := range s.instrs {
			if in.op == "ENV" && strings.Contains(in.rest, "CGO_ENABLED=0") {
				cgoOff = true
			}
			if in.op != "RUN" || !strings.Contains(in.rest, "go build") {
				continue
			}
			if !strings.Contains(in.rest, "./cmd/reins") {
				continue
			}
			if !cgoOff && !strings.Contains(in.rest, "CGO_ENABLED=0") {
				p.addf(where, "line %d: go build ./cmd/reins without CGO_ENABLED=0: the binary would not be static for %s", in.line, final.base)
			}
			if m := regexp.MustCompile(`\s-o[ =](\S+)`).FindStringSubmatch(in.rest); m != nil {
				built = m[1]
				builtIn = s.name
				if builtIn == "" {
					builtIn = strconv.Itoa(si)
				}
			}
		}
	}
	if built == "" {
		p.addf(where, "no build stage runs `go build -o PATH ./cmd/reins`")
	}

	var copied []string
	for _, in := range final.instrs {
		switch in.op {
		case "USER":
			img.user = in.rest
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.rest), &img.entrypoint); err != nil {
				p.addf(where, "line %d: ENTRYPOINT %s is shell form: the final image has no shell; use exec form [\"/reins\"]", in.line, in.rest)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(in.rest), &img.cmd); err != nil {
				p.addf(where, "line %d: CMD %s is shell form: the final image has no shell", in.line, in.rest)
			}
		case "ENV":
			for k, v := range parseEnvInstruction(in.rest) {
				img.env[k] = v
			}
		case "EXPOSE":
			for _, w := range strings.Fields(in.rest) {
				n, err := strconv.Atoi(strings.Split(w, "/")[0])
				if err != nil {
					p.addf(where, "line %d: EXPOSE %s is not a port", in.line, w)
				}
				img.expose = append(img.expose, n)
			}
		case "VOLUME":
			var vols []string
			if json.Unmarshal([]byte(in.rest), &vols) != nil {
				vols = strings.Fields(in.rest)
			}
			img.volumes = append(img.volumes, vols...)
		case "COPY":
			f := strings.Fields(in.rest)
			from := ""
			var paths []string
			for _, w := range f {
				if v, ok := strings.CutPrefix(w, "--from="); ok {
					from = v
				} else if !strings.HasPrefix(w, "--") {
					paths = append(paths, w)
				}
			}
			if from == builtIn && len(paths) == 2 && paths[0] == built {
				copied = append(copied, paths[1])
			}
		}
	}
	switch user, _, _ := strings.Cut(img.user, ":"); {
	case img.user == "":
		p.addf(where, "the final stage sets no USER: want a non-root user such as 65532:65532")
	case user == "root" || user == "0":
		p.addf(where, "USER %s runs as root: want a non-root user such as 65532:65532", img.user)
	}
	if len(img.entrypoint) != 1 || !path.IsAbs(img.entrypoint[0]) {
		p.addf(where, "want ENTRYPOINT [\"/reins\"] (the binary alone), got %q", img.entrypoint)
	} else if built != "" && !slices.Contains(copied, img.entrypoint[0]) {
		p.addf(where, "ENTRYPOINT %s is not the binary built at %s (want COPY --from=%s %s %s)", img.entrypoint[0], built, builtIn, built, img.entrypoint[0])
	}
	return img, p
}

// parseEnvInstruction reads `ENV K=V K2=V2` and the legacy `ENV K V`.
func parseEnvInstruction(rest string) map[string]string {
	env := map[string]string{}
	f := strings.Fields(rest)
	if len(f) > 0 && !strings.Contains(f[0], "=") {
		env[f[0]] = strings.Trim(strings.Join(f[1:], " "), `"`)
		return env
	}
	for _, w := range f {
		if k, v, ok := strings.Cut(w, "="); ok {
			env[k] = strings.Trim(v, `"`)
		}
	}
	return env
}

// checkImage checks the image's defaults against the binary: the default command, its
// environment, the exposed port and the data volume.
func (b *binary) checkImage(img image) problems {
	const where = "Dockerfile"
	var p problems
	args, ap := b.checkArgs(where+" CMD", img.cmd, containerCommands...)
	p.add(ap...)
	p.add(b.checkEnv(where+" ENV", img.env)...)
	if args.cmd == "" {
		return p
	}
	if slices.Contains(serverCommands, args.cmd) {
		port, err := listenPort(b.setting(args, img.env, "addr"))
		if err != nil {
			p.addf(where, "REINS_ADDR: %v", err)
		} else if !slices.Contains(img.expose, port) {
			p.addf(where, "EXPOSE %v does not include %d, the port the binary listens on (REINS_ADDR)", img.expose, port)
		}
	}
	dataDir := b.setting(args, img.env, "data-dir")
	if !path.IsAbs(dataDir) {
		p.addf(where, "the data directory %q is relative: set REINS_DATA_DIR to an absolute path", dataDir)
	} else if !slices.ContainsFunc(img.volumes, func(v string) bool { return path.Clean(v) == path.Clean(dataDir) }) {
		p.addf(where, "VOLUME %v does not include the data directory %s (REINS_DATA_DIR)", img.volumes, dataDir)
	}
	return p
}

// checkDockerignore keeps local state out of the build context (and so out of the image).
func checkDockerignore(text string) problems {
	var p problems
	lines := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		lines[strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(l), "/"), "/")] = true
	}
	for _, want := range []string{"data", ".git", "bin", "*.test"} {
		if !lines[want] {
			p.addf(".dockerignore", "does not exclude %s", want)
		}
	}
	return p
}

// ---------------------------------------------------------------------------------------
// Containers, whatever describes them.

// container is a reins process as compose or Kubernetes would start it.
type container struct {
	where  string
	argv   []string          // the arguments after the entrypoint: subcommand first
	env    map[string]string // the environment it sees, the image's ENV included
	mounts map[string]mount  // by cleaned mount path
}

type mount struct {
	volume   string // what is mounted: "volume:NAME", "pvc:CLAIM", "emptyDir:NAME", "bind:PATH"
	readOnly bool
}

// checked is a container whose command line has been checked, with its settings.
type checked struct {
	container
	args    parsedArgs
	dataDir string
	port    int // the port it serves HTTP on; 0 for a command that does not serve
	grace   time.Duration
}

// checkContainer checks what every reins container needs whatever runs it: a real command
// line, known REINS_* variables, the shared data volume at its data directory, a Postgres
// database (several processes never share an embedded SQLite file), and for a server a
// reachable listen address.
func (b *binary) checkContainer(c container) (checked, problems) {
	var p problems
	ch := checked{container: c}
	args, ap := b.checkArgs(c.where, c.argv, containerCommands...)
	p.add(ap...)
	p.add(b.checkEnv(c.where, c.env)...)
	ch.args = args
	if args.cmd == "" || len(ap) > 0 {
		return ch, p
	}
	ch.dataDir = path.Clean(b.setting(args, c.env, "data-dir"))
	if m, ok := c.mounts[ch.dataDir]; !ok {
		p.addf(c.where, "nothing is mounted at its data directory %s: job files must be on the shared data volume", ch.dataDir)
	} else if m.readOnly {
		p.addf(c.where, "the data volume at %s is mounted read-only", ch.dataDir)
	}
	dbURL := b.setting(args, c.env, "database-url")
	if u, err := url.Parse(dbURL); dbURL == "" || err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.addf(c.where, "no Postgres URL (--database-url / REINS_DATABASE_URL): a cluster's processes must share Postgres, not each open the embedded SQLite file")
	}
	if slices.Contains(serverCommands, args.cmd) {
		port, err := listenPort(b.setting(args, c.env, "addr"))
		if err != nil {
			p.addf(c.where, "--addr / REINS_ADDR: %v", err)
		}
		ch.port = port
		ch.grace, _ = time.ParseDuration(b.setting(args, c.env, "grace"))
	}
	return ch, p
}

// sharedVolume checks that every container mounts the same volume at its data directory.
func sharedVolume(where string, cs []checked) (string, problems) {
	var p problems
	vols := map[string][]string{}
	for _, c := range cs {
		if m, ok := c.mounts[c.dataDir]; ok && c.dataDir != "" {
			vols[m.volume] = append(vols[m.volume], c.where)
		}
	}
	if len(vols) > 1 {
		p.addf(where, "the reins containers mount different volumes at their data directory (%v): every process of a cluster must share one", vols)
	}
	for v := range vols {
		return v, p
	}
	return "", p
}

func imageIsReins(ref string) bool {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	name := path.Base(ref)
	if i := strings.Index(name, ":"); i >= 0 {
		name = name[:i]
	}
	return name == "reins"
}

// ---------------------------------------------------------------------------------------
// docker-compose.yml.

// checkCompose checks docker-compose.yml: the reins services' commands, environment, data
// volume, health checks (run by the binary itself: the image has no shell), start order
// (Postgres healthy → migrate completed → api and workers) and stop grace period.
func checkCompose(text string, img image, b *binary) problems {
	const file = "docker-compose.yml"
	var p problems
	var doc struct {
		Services map[string]map[string]any `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		p.addf(file, "%v", err)
		return p
	}
	var reins []checked
	svc := map[string]checked{}
	for _, name := range sortedKeys(doc.Services) {
		s := doc.Services[name]
		where := file + " service " + name
		image, _ := s["image"].(string)
		if !imageIsReins(image) && s["build"] == nil {
			continue
		}
		c := container{where: where, env: map[string]string{}, mounts: map[string]mount{}}
		if ep, ok := s["entrypoint"]; ok && !slices.Equal(stringList(ep), img.entrypoint) {
			p.addf(where, "entrypoint %q overrides the image's %q", stringList(ep), img.entrypoint)
		}
		c.argv = img.cmd
		if cmd, ok := s["command"]; ok {
			c.argv = stringList(cmd)
		}
		for k, v := range img.env {
			c.env[k] = v
		}
		for k, v := range composeEnv(s["environment"]) {
			c.env[k] = v
		}
		for _, v := range anyList(s["volumes"]) {
			target, m, err := composeMount(v)
			if err != nil {
				p.addf(where, "volumes: %v", err)
				continue
			}
			c.mounts[path.Clean(target)] = m
			if name, ok := strings.CutPrefix(m.volume, "volume:"); ok {
				if _, declared := doc.Volumes[name]; !declared {
					p.addf(where, "mounts volume %q, which the top-level volumes do not declare", name)
				}
			}
		}
		ch, cp := b.checkContainer(c)
		p.add(cp...)
		reins = append(reins, ch)
		svc[name] = ch
		if ch.args.cmd == "" {
			continue
		}
		if ch.args.cmd == "migrate" {
			switch r, _ := s["restart"].(string); {
			case r == "" || r == "no" || strings.HasPrefix(r, "on-failure"):
			default:
				p.addf(where, "restart: %s restarts the one-shot migration after it succeeds; use \"no\" or on-failure", r)
			}
		}
		if !slices.Contains(serverCommands, ch.args.cmd) {
			continue
		}
		// Stop grace period: compose sends SIGKILL after it (default 10s).
		stop := 10 * time.Second
		if v, ok := s["stop_grace_period"]; ok {
			d, err := time.ParseDuration(fmt.Sprint(v))
			if err != nil {
				p.addf(where, "stop_grace_period %v: %v", v, err)
			}
			stop = d
		}
		if stop < ch.grace+drainMargin {
			p.addf(where, "stop_grace_period %s is not at least the drain (--grace %s) + %s: compose would SIGKILL a draining process", stop, ch.grace, drainMargin)
		}
		// Published ports: only the port it listens on; none fixed on the host when replicated.
		replicas := 1
		if d, ok := s["deploy"].(map[string]any); ok {
			if r, ok := d["replicas"].(int); ok {
				replicas = r
			}
		}
		published := false
		for _, v := range anyList(s["ports"]) {
			host, target, err := composePort(v)
			if err != nil {
				p.addf(where, "ports: %v", err)
				continue
			}
			if target == ch.port {
				published = true
			} else if ch.port != 0 {
				p.addf(where, "publishes container port %d, but the process listens on %d (--addr / REINS_ADDR)", target, ch.port)
			}
			if host != "" && replicas > 1 {
				p.addf(where, "publishes fixed host port %s with deploy.replicas %d: the replicas would collide", host, replicas)
			}
		}
		if ch.args.cmd == "serve" && !published && ch.port != 0 {
			p.addf(where, "does not publish the API port %d", ch.port)
		}
		p.add(checkComposeHealthcheck(where, s["healthcheck"], img, ch, b)...)
	}
	if len(reins) == 0 {
		p.addf(file, "no service runs the reins image")
		return p
	}
	_, vp := sharedVolume(file, reins)
	p.add(vp...)
	p.add(checkComposeOrder(file, doc.Services, svc)...)
	return p
}

// checkComposeHealthcheck: the check runs `/reins probe URL` (exec form; there is no shell)
// against the process's own /readyz.
func checkComposeHealthcheck(where string, hc any, img image, ch checked, b *binary) problems {
	var p problems
	m, _ := hc.(map[string]any)
	test := stringList(m["test"])
	if m == nil || len(test) == 0 || m["disable"] == true || test[0] == "NONE" {
		p.addf(where, "no healthcheck")
		return p
	}
	if test[0] != "CMD" {
		p.addf(where, "healthcheck %q: want exec form [\"CMD\", \"%s\", \"%s\", URL]; the image has no shell", test, strings.Join(img.entrypoint, " "), probeCommand)
		return p
	}
	if len(test) < 2 || len(img.entrypoint) == 0 || test[1] != img.entrypoint[0] {
		p.addf(where, "healthcheck %q does not run the image's binary %q", test, img.entrypoint)
		return p
	}
	args, ap := b.checkArgs(where+" healthcheck", test[2:], probeCommand)
	p.add(ap...)
	if len(ap) > 0 || len(args.positional) != 1 {
		return p
	}
	u, err := url.Parse(args.positional[0])
	if err != nil || u.Scheme != "http" {
		p.addf(where, "healthcheck URL %q is not an http URL", args.positional[0])
		return p
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		p.addf(where, "healthcheck URL %s does not target the container itself (127.0.0.1)", u)
	}
	if port, _ := strconv.Atoi(u.Port()); port != ch.port {
		p.addf(where, "healthcheck URL %s: port %s, but the process listens on %d (--addr / REINS_ADDR)", u, u.Port(), ch.port)
	}
	if u.Path != "/readyz" {
		p.addf(where, "healthcheck URL %s: want readiness, /readyz", u)
	}
	return p
}

// checkComposeOrder: the database is healthy before migrate runs, and migrate has completed
// before any server starts.
func checkComposeOrder(file string, services map[string]map[string]any, reins map[string]checked) problems {
	var p problems
	var migrators []string
	for name, ch := range reins {
		if ch.args.cmd == "migrate" {
			migrators = append(migrators, name)
		}
	}
	if len(migrators) == 0 {
		p.addf(file, "no service runs `reins migrate`")
	}
	for _, name := range sortedKeys(reins) {
		ch := reins[name]
		deps, err := composeDependsOn(services[name]["depends_on"])
		if err != nil {
			p.addf(ch.where, "depends_on: %v", err)
			continue
		}
		switch {
		case ch.args.cmd == "migrate":
			u, err := url.Parse(ch.env["REINS_DATABASE_URL"])
			if err != nil || u.Hostname() == "" {
				continue // checkContainer reports a missing URL
			}
			db, ok := services[u.Hostname()]
			if !ok {
				p.addf(ch.where, "REINS_DATABASE_URL names host %q, which is not a service", u.Hostname())
				continue
			}
			if hc, _ := db["healthcheck"].(map[string]any); hc == nil {
				p.addf(file+" service "+u.Hostname(), "no healthcheck, so nothing can wait for the database to be ready")
			}
			if deps[u.Hostname()] != "service_healthy" {
				p.addf(ch.where, "does not wait for the database: want depends_on %s condition service_healthy", u.Hostname())
			}
		case slices.Contains(serverCommands, ch.args.cmd):
			if !slices.ContainsFunc(migrators, func(m string) bool { return deps[m] == "service_completed_successfully" }) {
				p.addf(ch.where, "does not wait for the migration: want depends_on %v condition service_completed_successfully", migrators)
			}
		}
	}
	return p
}

func composeDependsOn(v any) (map[string]string, error) {
	deps := map[string]string{}
	switch d := v.(type) {
	case nil:
	case []any:
		for _, n := range d {
			deps[fmt.Sprint(n)] = "service_started"
		}
	case map[string]any:
		for n, spec := range d {
			cond := "service_started"
			if m, ok := spec.(map[string]any); ok {
				if c, ok := m["condition"].(string); ok {
					cond = c
				}
			}
			deps[n] = cond
		}
	default:
		return nil, fmt.Errorf("unexpected %T", v)
	}
	return deps, nil
}

func composeEnv(v any) map[string]string {
	env := map[string]string{}
	switch e := v.(type) {
	case map[string]any:
		for k, val := range e {
			if val != nil {
				env[k] = fmt.Sprint(val)
			}
		}
	case []any:
		for _, kv := range e {
			if k, val, ok := strings.Cut(fmt.Sprint(kv), "="); ok {
				env[k] = val
			}
		}
	}
	return env
}

// composeMount reads a service volume in short ("src:target[:ro]") or long syntax.
func composeMount(v any) (string, mount, error) {
	switch m := v.(type) {
	case string:
		parts := strings.Split(m, ":")
		if len(parts) < 2 {
			return "", mount{}, fmt.Errorf("%q is an anonymous volume: job files must be on a named, shared one", m)
		}
		kind := "volume:"
		if strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/") || strings.HasPrefix(parts[0], "~") {
			kind = "bind:"
		}
		ro := len(parts) > 2 && slices.Contains(strings.Split(parts[2], ","), "ro")
		return parts[1], mount{volume: kind + parts[0], readOnly: ro}, nil
	case map[string]any:
		typ, _ := m["type"].(string)
		src, _ := m["source"].(string)
		target, _ := m["target"].(string)
		ro, _ := m["read_only"].(bool)
		if typ == "" {
			typ = "volume"
		}
		return target, mount{volume: typ + ":" + src, readOnly: ro}, nil
	}
	return "", mount{}, fmt.Errorf("unexpected volume %v", v)
}

// composePort reads a port in short ("[ip:]host:container[/proto]", "container") or long
// syntax, returning the fixed host port ("" when none) and the container port.
func composePort(v any) (string, int, error) {
	switch m := v.(type) {
	case int:
		return "", m, nil
	case string:
		parts := strings.Split(strings.Split(m, "/")[0], ":")
		target, err := strconv.Atoi(parts[len(parts)-1])
		if err != nil {
			return "", 0, fmt.Errorf("port %q: container port is not a number", m)
		}
		host := ""
		if len(parts) > 1 {
			host = parts[len(parts)-2]
		}
		return host, target, nil
	case map[string]any:
		target, ok := m["target"].(int)
		if !ok {
			return "", 0, fmt.Errorf("port %v has no target", m)
		}
		host := ""
		if pub, ok := m["published"]; ok {
			host = fmt.Sprint(pub)
		}
		return host, target, nil
	}
	return "", 0, fmt.Errorf("unexpected port %v", v)
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}

func stringList(v any) []string {
	switch l := v.(type) {
	case string:
		return strings.Fields(l)
	case []any:
		s := make([]string, len(l))
		for i, e := range l {
			s[i] = fmt.Sprint(e)
		}
		return s
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// Kubernetes.

type intOrString struct {
	num int
	str string
}

func (v *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Tag == "!!int" {
		return n.Decode(&v.num)
	}
	return n.Decode(&v.str)
}

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       yaml.Node         `yaml:"spec"`
	Resources  []string          `yaml:"resources"`
	Images     []struct {
		Name string `yaml:"name"`
	} `yaml:"images"`
	file string
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
}

type httpProbe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
}

type nameRef struct {
	Name     string `yaml:"name"`
	Optional bool   `yaml:"optional"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
			SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		Prefix       string   `yaml:"prefix"`
		ConfigMapRef *nameRef `yaml:"configMapRef"`
		SecretRef    *nameRef `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *httpProbe `yaml:"livenessProbe"`
	ReadinessProbe *httpProbe `yaml:"readinessProbe"`
	StartupProbe   *httpProbe `yaml:"startupProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	SecurityContext securityContext `yaml:"securityContext"`
}

type podTemplate struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		TerminationGracePeriodSeconds *int64          `yaml:"terminationGracePeriodSeconds"`
		RestartPolicy                 string          `yaml:"restartPolicy"`
		SecurityContext               securityContext `yaml:"securityContext"`
		Containers                    []k8sContainer  `yaml:"containers"`
		InitContainers                []k8sContainer  `yaml:"initContainers"`
		Volumes                       []struct {
			Name                  string `yaml:"name"`
			PersistentVolumeClaim *struct {
				ClaimName string `yaml:"claimName"`
				ReadOnly  bool   `yaml:"readOnly"`
			} `yaml:"persistentVolumeClaim"`
			EmptyDir *yaml.Node `yaml:"emptyDir"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type workloadSpec struct {
	Replicas *int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template podTemplate `yaml:"template"`
}

type serviceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string      `yaml:"name"`
		Port       int         `yaml:"port"`
		TargetPort intOrString `yaml:"targetPort"`
	} `yaml:"ports"`
}

type pvcSpec struct {
	AccessModes []string `yaml:"accessModes"`
}

// pod is a reins container of a workload, checked, with what its pod says about it.
type pod struct {
	checked
	kind   string
	labels map[string]string
	spec   k8sContainer
}

// checkKubernetes checks deploy/k8s: every file is a listed kustomize resource, the reins
// containers run real commands with known settings from existing ConfigMaps and Secrets,
// probe /healthz (liveness) and /readyz (readiness) on the port they listen on, get more
// time than the drain before SIGKILL, run locked down as non-root, and share one
// ReadWriteMany claim at their data directory; Services target ports the pods serve.
func checkKubernetes(files map[string]string, img image, b *binary) problems {
	var p problems
	var objs []k8sObject
	kustomized := map[string]bool{}
	haveKustomization := false
	for _, file := range sortedKeys(files) {
		if !strings.HasSuffix(file, ".yaml") && !strings.HasSuffix(file, ".yml") {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(files[file]))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if err == io.EOF {
				break
			}
			if err != nil {
				p.addf(file, "%v", err)
				break
			}
			if o.Kind == "" {
				continue // an empty document
			}
			o.file = file
			if o.Kind == "Kustomization" {
				haveKustomization = true
				for _, r := range o.Resources {
					kustomized[path.Join(path.Dir(file), r)] = true
				}
				continue
			}
			if o.Metadata.Name == "" {
				p.addf(file, "a %s without metadata.name", o.Kind)
			}
			objs = append(objs, o)
		}
	}
	if !haveKustomization {
		p.addf("deploy/k8s", "no kustomization.yaml")
	}
	for _, file := range sortedKeys(files) {
		base := path.Base(file)
		isYAML := strings.HasSuffix(file, ".yaml") || strings.HasSuffix(file, ".yml")
		if isYAML && base != "kustomization.yaml" && !kustomized[file] {
			p.addf(file, "is not listed in kustomization.yaml resources: `kubectl apply -k` would skip it")
		}
	}
	for r := range kustomized {
		if _, ok := files[r]; !ok {
			p.addf("kustomization.yaml", "lists %s, which does not exist", r)
		}
	}

	byKind := func(kind string) map[string]k8sObject {
		m := map[string]k8sObject{}
		for _, o := range objs {
			if o.Kind == kind {
				m[o.Metadata.Name] = o
			}
		}
		return m
	}
	configMaps, secrets, claims := byKind("ConfigMap"), byKind("Secret"), byKind("PersistentVolumeClaim")
	secretData := func(o k8sObject) map[string]string {
		d := map[string]string{}
		for k, v := range o.Data {
			dec, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				p.addf(o.file, "Secret %s data.%s is not base64", o.Metadata.Name, k)
			}
			d[k] = string(dec)
		}
		for k, v := range o.StringData {
			d[k] = v
		}
		return d
	}

	var pods []pod
	for _, o := range objs {
		var tmpl podTemplate
		var selector map[string]string
		where := fmt.Sprintf("%s %s/%s", o.file, o.Kind, o.Metadata.Name)
		switch o.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			var spec workloadSpec
			if err := o.Spec.Decode(&spec); err != nil {
				p.addf(where, "spec: %v", err)
				continue
			}
			tmpl, selector = spec.Template, spec.Selector.MatchLabels
		default:
			continue
		}
		if o.Kind == "Job" {
			if rp := tmpl.Spec.RestartPolicy; rp != "Never" && rp != "OnFailure" {
				p.addf(where, "restartPolicy %q: a Job needs Never or OnFailure", rp)
			}
		} else {
			if len(selector) == 0 {
				p.addf(where, "no spec.selector.matchLabels")
			}
			for k, v := range selector {
				if tmpl.Metadata.Labels[k] != v {
					p.addf(where, "selector %s=%s does not match the pod template's labels", k, v)
				}
			}
		}
		volumes := map[string]mount{}
		for _, v := range tmpl.Spec.Volumes {
			switch {
			case v.PersistentVolumeClaim != nil:
				volumes[v.Name] = mount{volume: "pvc:" + v.PersistentVolumeClaim.ClaimName, readOnly: v.PersistentVolumeClaim.ReadOnly}
			case v.EmptyDir != nil:
				volumes[v.Name] = mount{volume: "emptyDir:" + v.Name}
			default:
				volumes[v.Name] = mount{volume: "other:" + v.Name}
			}
		}
		for _, k := range append(slices.Clone(tmpl.Spec.InitContainers), tmpl.Spec.Containers...) {
			if !imageIsReins(k.Image) {
				continue
			}
			cw := fmt.Sprintf("%s container %s", where, k.Name)
			c := container{where: cw, env: map[string]string{}, mounts: map[string]mount{}}
			switch {
			case k.Command != nil && !slices.Equal(k.Command, img.entrypoint):
				p.addf(cw, "command %q overrides the image's entrypoint %q", k.Command, img.entrypoint)
			case k.Command != nil && k.Args == nil:
				c.argv = nil // a command drops the image's CMD
			case k.Args != nil:
				c.argv = k.Args
			default:
				c.argv = img.cmd
			}
			for kk, v := range img.env {
				c.env[kk] = v
			}
			for _, ef := range k.EnvFrom {
				var src map[string]string
				switch {
				case ef.ConfigMapRef != nil:
					o, ok := configMaps[ef.ConfigMapRef.Name]
					if !ok && !ef.ConfigMapRef.Optional {
						p.addf(cw, "envFrom ConfigMap %q does not exist in deploy/k8s", ef.ConfigMapRef.Name)
					}
					src = o.Data
				case ef.SecretRef != nil:
					o, ok := secrets[ef.SecretRef.Name]
					if !ok && !ef.SecretRef.Optional {
						p.addf(cw, "envFrom Secret %q does not exist in deploy/k8s", ef.SecretRef.Name)
					}
					src = secretData(o)
				}
				for kk, v := range src {
					c.env[ef.Prefix+kk] = v
				}
			}
			for _, e := range k.Env {
				switch {
				case e.ValueFrom == nil:
					c.env[e.Name] = e.Value
				case e.ValueFrom.ConfigMapKeyRef != nil:
					r := e.ValueFrom.ConfigMapKeyRef
					v, ok := configMaps[r.Name].Data[r.Key]
					if !ok {
						p.addf(cw, "env %s: ConfigMap %s has no key %s", e.Name, r.Name, r.Key)
					}
					c.env[e.Name] = v
				case e.ValueFrom.SecretKeyRef != nil:
					r := e.ValueFrom.SecretKeyRef
					v, ok := secretData(secrets[r.Name])[r.Key]
					if !ok {
						p.addf(cw, "env %s: Secret %s has no key %s", e.Name, r.Name, r.Key)
					}
					c.env[e.Name] = v
				}
			}
			for _, vm := range k.VolumeMounts {
				m, ok := volumes[vm.Name]
				if !ok {
					p.addf(cw, "volumeMount %s names no volume of the pod", vm.Name)
					continue
				}
				m.readOnly = m.readOnly || vm.ReadOnly
				c.mounts[path.Clean(vm.MountPath)] = m
			}
			ch, cp := b.checkContainer(c)
			p.add(cp...)
			p.add(checkSecurity(cw, tmpl.Spec.SecurityContext, k.SecurityContext, img)...)
			if ch.args.cmd == "serve" && boolOr(k.SecurityContext.ReadOnlyRootFilesystem, false) {
				if m, ok := c.mounts["/tmp"]; !ok || m.readOnly {
					p.addf(cw, "read-only root filesystem and no writable /tmp: large multipart form bodies spill to os.TempDir")
				}
			}
			if ch.port != 0 {
				p.add(checkProbes(cw, k, ch.port)...)
				tg := tmpl.Spec.TerminationGracePeriodSeconds
				if tg == nil {
					p.addf(where, "terminationGracePeriodSeconds is not set: set it to at least the drain (%s) + %s", ch.grace, drainMargin)
				} else if time.Duration(*tg)*time.Second < ch.grace+drainMargin {
					p.addf(where, "terminationGracePeriodSeconds %d is not at least the drain (--grace / REINS_GRACE %s) + %s: the kubelet would SIGKILL a draining process", *tg, ch.grace, drainMargin)
				}
			}
			pods = append(pods, pod{checked: ch, kind: o.Kind, labels: tmpl.Metadata.Labels, spec: k})
		}
	}

	// The topology: an API, workers and a migration Job.
	for _, want := range []struct{ kind, cmd string }{{"Deployment", "serve"}, {"Deployment", "worker"}, {"Job", "migrate"}} {
		if !slices.ContainsFunc(pods, func(pd pod) bool { return pd.kind == want.kind && pd.args.cmd == want.cmd }) {
			p.addf("deploy/k8s", "no %s runs `reins %s`", want.kind, want.cmd)
		}
	}

	// The shared data volume: one ReadWriteMany claim.
	var checkedPods []checked
	for _, pd := range pods {
		checkedPods = append(checkedPods, pd.checked)
	}
	vol, vp := sharedVolume("deploy/k8s", checkedPods)
	p.add(vp...)
	if claim, ok := strings.CutPrefix(vol, "pvc:"); ok {
		o, ok := claims[claim]
		if !ok {
			p.addf("deploy/k8s", "the data volume's PersistentVolumeClaim %q does not exist", claim)
		} else {
			var spec pvcSpec
			if err := o.Spec.Decode(&spec); err != nil {
				p.addf(o.file, "%v", err)
			}
			if !slices.Contains(spec.AccessModes, "ReadWriteMany") {
				p.addf(o.file, "PersistentVolumeClaim %s has accessModes %v: every API and worker pod mounts it, so it must be ReadWriteMany", claim, spec.AccessModes)
			}
		}
	} else if vol != "" {
		p.addf("deploy/k8s", "the data directory is on %s, not a PersistentVolumeClaim shared by every pod", vol)
	}

	// Services: each selects serving pods and targets the port they listen on.
	for _, o := range objs {
		if o.Kind != "Service" {
			continue
		}
		where := fmt.Sprintf("%s Service/%s", o.file, o.Metadata.Name)
		var spec serviceSpec
		if err := o.Spec.Decode(&spec); err != nil {
			p.addf(where, "%v", err)
			continue
		}
		var selected []pod
		for _, pd := range pods {
			if len(spec.Selector) > 0 && isSubset(spec.Selector, pd.labels) && pd.kind != "Job" {
				selected = append(selected, pd)
			}
		}
		if len(selected) == 0 {
			p.addf(where, "selector %v selects no reins pod", spec.Selector)
			continue
		}
		for _, pd := range selected {
			if pd.port == 0 {
				p.addf(where, "selects %s, which serves no HTTP", pd.where)
				continue
			}
			for _, sp := range spec.Ports {
				if port, ok := resolvePort(pd.spec, sp.TargetPort); !ok || port != pd.port {
					p.addf(where, "port %d targetPort %v is not the port %s listens on (%d)", sp.Port, portString(sp.TargetPort), pd.where, pd.port)
				}
			}
		}
	}
	return p
}

// checkSecurity: non-root (the pod's or the image's user), no privilege escalation, a
// read-only root filesystem (the binary writes only to the data volume and /tmp).
func checkSecurity(where string, podSC, sc securityContext, img image) problems {
	var p problems
	if !boolOr(sc.RunAsNonRoot, boolOr(podSC.RunAsNonRoot, false)) {
		p.addf(where, "runAsNonRoot is not true")
	}
	user := sc.RunAsUser
	if user == nil {
		user = podSC.RunAsUser
	}
	if user != nil && *user == 0 {
		p.addf(where, "runAsUser 0 is root")
	}
	if user == nil {
		if n, err := strconv.Atoi(strings.Split(img.user, ":")[0]); err != nil || n == 0 {
			p.addf(where, "no runAsUser and the image's USER %q is not numeric: the kubelet cannot verify runAsNonRoot", img.user)
		}
	}
	if !boolOr(sc.ReadOnlyRootFilesystem, false) {
		p.addf(where, "securityContext.readOnlyRootFilesystem is not true")
	}
	if boolOr(sc.AllowPrivilegeEscalation, true) {
		p.addf(where, "securityContext.allowPrivilegeEscalation is not false")
	}
	return p
}

// checkProbes: liveness on /healthz, readiness on /readyz (and a startup probe, if any, on
// one of them), all on the port the process listens on, which the container declares.
func checkProbes(where string, k k8sContainer, listen int) problems {
	var p problems
	if !slices.ContainsFunc(k.Ports, func(cp struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	}) bool {
		return cp.ContainerPort == listen
	}) {
		p.addf(where, "declares no containerPort %d, the port it listens on (--addr / REINS_ADDR)", listen)
	}
	for _, pr := range []struct {
		name   string
		probe  *httpProbe
		paths  []string
		needed bool
	}{
		{"livenessProbe", k.LivenessProbe, []string{"/healthz"}, true},
		{"readinessProbe", k.ReadinessProbe, []string{"/readyz"}, true},
		{"startupProbe", k.StartupProbe, []string{"/healthz", "/readyz"}, false},
	} {
		if pr.probe == nil {
			if pr.needed {
				p.addf(where, "no %s", pr.name)
			}
			continue
		}
		if pr.probe.HTTPGet == nil {
			p.addf(where, "%s is not an httpGet probe", pr.name)
			continue
		}
		if !slices.Contains(pr.paths, pr.probe.HTTPGet.Path) {
			p.addf(where, "%s path %q: want %s (liveness must not depend on the database; readiness must)", pr.name, pr.probe.HTTPGet.Path, strings.Join(pr.paths, " or "))
		}
		if port, ok := resolvePort(k, pr.probe.HTTPGet.Port); !ok || port != listen {
			p.addf(where, "%s port %s is not the port it listens on (%d)", pr.name, portString(pr.probe.HTTPGet.Port), listen)
		}
	}
	return p
}

// resolvePort turns a named or numbered port into the container's port number.
func resolvePort(k k8sContainer, port intOrString) (int, bool) {
	if port.str == "" {
		return port.num, port.num != 0
	}
	if n, err := strconv.Atoi(port.str); err == nil {
		return n, true
	}
	for _, cp := range k.Ports {
		if cp.Name == port.str {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func portString(p intOrString) string {
	if p.str != "" {
		return strconv.Quote(p.str)
	}
	return strconv.Itoa(p.num)
}

func isSubset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// ---------------------------------------------------------------------------------------
// Everything.

// packagingFiles reads the files the checks cover, by path from the module root.
func packagingFiles(t *testing.T) map[string]string {
	t.Helper()
	root := repoRoot(t)
	files := map[string]string{}
	read := func(rel string) {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		files[rel] = string(b)
	}
	read("Dockerfile")
	read(".dockerignore")
	read("docker-compose.yml")
	entries, err := os.ReadDir(filepath.Join(root, "deploy", "k8s"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			read("deploy/k8s/" + e.Name())
		}
	}
	return files
}

func checkAll(files map[string]string, b *binary) problems {
	var p problems
	img, ip := parseDockerfile(files["Dockerfile"])
	p.add(ip...)
	p.add(b.checkImage(img)...)
	p.add(checkDockerignore(files[".dockerignore"])...)
	p.add(checkCompose(files["docker-compose.yml"], img, b)...)
	k8s := map[string]string{}
	for f, text := range files {
		if strings.HasPrefix(f, "deploy/k8s/") {
			k8s[f] = text
		}
	}
	p.add(checkKubernetes(k8s, img, b)...)
	return p
}

func TestPackaging(t *testing.T) {
	t.Parallel()
	b := reinsBinary(t)
	for _, err := range checkAll(packagingFiles(t), b) {
		t.Error(err)
	}
}

// TestBrokenPackagingFails breaks the real files one way at a time and expects the checks
// to name each breakage, so no check passes vacuously.
func TestBrokenPackagingFails(t *testing.T) {
	t.Parallel()
	b := reinsBinary(t)
	files := packagingFiles(t)
	const (
		compose = "docker-compose.yml"
		api     = "deploy/k8s/api-deployment.yaml"
		worker  = "deploy/k8s/worker-deployment.yaml"
		cm      = "deploy/k8s/configmap.yaml"
	)
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"compose unknown flag", compose, `["serve", "--workers", "0"]`, `["serve", "--worker", "0"]`, "--worker is not a flag"},
		{"compose unknown subcommand", compose, `["worker", "--workers", "4"]`, `["wrker", "--workers", "4"]`, `"wrker" is not a subcommand`},
		{"compose bad flag value", compose, `["worker", "--workers", "4"]`, `["worker", "--workers", "four"]`, "not a whole number"},
		{"compose stop grace too short", compose, "stop_grace_period: 30s", "stop_grace_period: 20s", "stop_grace_period 20s"},
		{"compose drain longer than stop grace", compose, "REINS_GRACE: 25s", "REINS_GRACE: 28s", "stop_grace_period 30s"},
		{"compose grace not a duration", compose, "REINS_GRACE: 25s", "REINS_GRACE: 25", "REINS_GRACE=\"25\": not a duration"},
		{"compose unknown variable", compose, "REINS_GRACE: 25s", "REINS_GRACE: 25s\n  REINS_WORKER: \"4\"", "sets REINS_WORKER"},
		{"compose healthcheck on another port", compose, "REINS_ADDR: 0.0.0.0:8001", "REINS_ADDR: 0.0.0.0:8002", "but the process listens on 8002"},
		{"compose healthcheck on liveness", compose, "http://127.0.0.1:8000/readyz", "http://127.0.0.1:8000/healthz", "want readiness"},
		{"compose healthcheck needs a shell", compose, `["CMD", "/reins", "probe", "http://127.0.0.1:8000/readyz"]`, `["CMD-SHELL", "curl -f http://127.0.0.1:8000/readyz"]`, "the image has no shell"},
		{"compose probe unknown flag", compose, `"probe", "http://127.0.0.1:8000/readyz"`, `"probe", "--url", "http://127.0.0.1:8000/readyz"`, "--url is not a flag of `reins probe`"},
		{"compose probe without URL", compose, `"probe", "http://127.0.0.1:8000/readyz"`, `"probe", "--timeout", "2s"`, "takes one URL"},
		{"compose api not published", compose, `"8000:8000"`, `"9000:9000"`, "publishes container port 9000"},
		{"compose replicas on a fixed port", compose, "    deploy:\n      replicas: 2", "    ports:\n      - \"8001:8001\"\n    deploy:\n      replicas: 2", "the replicas would collide"},
		{"compose loopback address", compose, "REINS_ADDR: 0.0.0.0:8000", "REINS_ADDR: 127.0.0.1:8000", "loopback"},
		{"compose data dir not on the volume", compose, "- reins-data:/data", "- reins-data:/srv/data", "nothing is mounted at its data directory"},
		{"compose undeclared volume", compose, "- reins-data:/data", "- reins-files:/data", `"reins-files", which the top-level volumes do not declare`},
		{"compose no Postgres", compose, "REINS_DATABASE_URL: postgres://", "REINS_DATABASE_URL_X: postgres://", "no Postgres URL"},
		{"compose workers before migration", compose, "condition: service_completed_successfully", "condition: service_started", "does not wait for the migration"},
		{"compose migrate before Postgres", compose, "condition: service_healthy", "condition: service_started", "does not wait for the database"},
		{"compose migrate restarted", compose, `restart: "no"`, "restart: always", "restarts the one-shot migration"},
		{"k8s readiness on liveness", api, "path: /readyz", "path: /healthz", "readinessProbe path"},
		{"k8s liveness on readiness", worker, "livenessProbe:\n            httpGet:\n              path: /healthz", "livenessProbe:\n            httpGet:\n              path: /readyz", "livenessProbe path"},
		{"k8s probe on unknown port", worker, "livenessProbe:\n            httpGet:\n              path: /healthz\n              port: http", "livenessProbe:\n            httpGet:\n              path: /healthz\n              port: web", `livenessProbe port "web"`},
		{"k8s container port", api, "containerPort: 8000", "containerPort: 8080", "declares no containerPort 8000"},
		{"k8s listens elsewhere", cm, `REINS_ADDR: "0.0.0.0:8000"`, `REINS_ADDR: "0.0.0.0:9000"`, "declares no containerPort 9000"},
		{"k8s termination grace", api, "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 20", "terminationGracePeriodSeconds 20"},
		{"k8s drain longer than termination grace", cm, "REINS_GRACE: 25s", "REINS_GRACE: 26s", "terminationGracePeriodSeconds 30 is not at least the drain"},
		{"k8s unknown variable", cm, "REINS_GRACE: 25s", "REINS_GRACE: 25s\n  REINS_LOG_LEVEL: debug", "sets REINS_LOG_LEVEL"},
		{"k8s workers not a number", cm, `REINS_WORKERS: "4"`, `REINS_WORKERS: "four"`, `REINS_WORKERS="four"`},
		{"k8s unknown flag", worker, `args: ["worker", "--workers", "4"]`, `args: ["worker", "--concurrency", "4"]`, "--concurrency is not a flag"},
		{"k8s flag of another subcommand", "deploy/k8s/migrate-job.yaml", `args: ["migrate"]`, `args: ["migrate", "--addr", ":8000"]`, "--addr is not a flag of `reins migrate`"},
		{"k8s stray argument", api, `args: ["serve", "--workers", "0"]`, `args: ["serve", "--workers", "0", "now"]`, "takes no arguments"},
		{"k8s PVC not RWX", "deploy/k8s/pvc.yaml", "- ReadWriteMany", "- ReadWriteOnce", "must be ReadWriteMany"},
		{"k8s data dir not on the PVC", worker, "mountPath: /data", "mountPath: /srv", "nothing is mounted at its data directory /data"},
		{"k8s different volumes", worker, "claimName: reins-data", "claimName: reins-worker-data", "mount different volumes"},
		{"k8s writable root", api, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"},
		{"k8s root allowed", worker, "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot is not true"},
		{"k8s privilege escalation", api, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation is not false"},
		{"k8s no writable tmp", api, "            - name: tmp\n              mountPath: /tmp\n", "", "no writable /tmp"},
		{"k8s no database secret", api, "            - secretRef:\n                name: reins-database\n", "", "no Postgres URL"},
		{"k8s missing secret", worker, "name: reins-database", "name: reins-db", `Secret "reins-db" does not exist`},
		{"k8s unknown variable in secret", "deploy/k8s/secret.yaml", "REINS_DATABASE_URL:", "REINS_DB_URL:", "sets REINS_DB_URL"},
		{"k8s service target port", "deploy/k8s/api-service.yaml", "targetPort: http", "targetPort: 9000", "targetPort 9000"},
		{"k8s service selects nothing", "deploy/k8s/api-service.yaml", "  selector:\n    app.kubernetes.io/name: reins\n    app.kubernetes.io/component: api", "  selector:\n    app.kubernetes.io/name: reins\n    app.kubernetes.io/component: web", "selects no reins pod"},
		{"k8s selector mismatch", worker, "  selector:\n    matchLabels:\n      app.kubernetes.io/name: reins\n      app.kubernetes.io/component: worker", "  selector:\n    matchLabels:\n      app.kubernetes.io/name: reins\n      app.kubernetes.io/component: workers", "does not match the pod template"},
		{"k8s file not in kustomization", "deploy/k8s/kustomization.yaml", "  - pvc.yaml\n", "", "pvc.yaml: is not listed"},
		{"k8s no migration job", "deploy/k8s/migrate-job.yaml", `args: ["migrate"]`, `args: ["serve"]`, "no Job runs `reins migrate`"},
		{"Dockerfile root user", "Dockerfile", "USER 65532:65532", "USER root", "runs as root"},
		{"Dockerfile cgo", "Dockerfile", "CGO_ENABLED=0", "CGO_ENABLED=1", "without CGO_ENABLED=0"},
		{"Dockerfile shell entrypoint", "Dockerfile", `ENTRYPOINT ["/reins"]`, "ENTRYPOINT /reins", "shell form"},
		{"Dockerfile entrypoint not the binary", "Dockerfile", `ENTRYPOINT ["/reins"]`, `ENTRYPOINT ["/bin/reins"]`, "is not the binary built"},
		{"Dockerfile exposes another port", "Dockerfile", "EXPOSE 8000", "EXPOSE 8080", "does not include 8000"},
		{"Dockerfile unknown command", "Dockerfile", `CMD ["serve"]`, `CMD ["server"]`, `"server" is not a subcommand`},
		{"Dockerfile fat final stage", "Dockerfile", "FROM gcr.io/distroless/static-debian12:nonroot", "FROM golang:1.26-bookworm", "want a minimal base"},
		{"Dockerfile volume elsewhere", "Dockerfile", "VOLUME /data", "VOLUME /var/lib/reins", "does not include the data directory"},
		{".dockerignore keeps data", ".dockerignore", "\ndata/\n", "\n", "does not exclude data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(files[tc.file], tc.old) {
				t.Fatalf("%s no longer contains %q: update this case", tc.file, tc.old)
			}
			broken := map[string]string{}
			for f, text := range files {
				broken[f] = text
			}
			broken[tc.file] = strings.Replace(files[tc.file], tc.old, tc.new, 1)
			errs := checkAll(broken, b)
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.want) {
					return
				}
			}
			t.Errorf("breaking %s (%q → %q): no error mentions %q; got %v", tc.file, tc.old, tc.new, tc.want, errs)
		})
	}
}

func TestParseFlagHelp(t *testing.T) {
	t.Parallel()
	help := "Usage of reins x:\n" +
		"  -addr string\n    \tHOST:PORT to serve on (REINS_ADDR) (default \"0.0.0.0:8000\")\n" +
		"  -grace duration\n    \thow long (REINS_GRACE) (default 25s)\n" +
		"  -v\tverbose\n" +
		"  -database-url string\n    \tPostgres URL (REINS_DATABASE_URL)\n"
	got := parseFlagHelp(help)
	want := map[string]flagInfo{
		"addr":         {typ: "string", def: "0.0.0.0:8000", env: "REINS_ADDR"},
		"grace":        {typ: "duration", def: "25s", env: "REINS_GRACE"},
		"v":            {},
		"database-url": {typ: "string", env: "REINS_DATABASE_URL"},
	}
	if len(got) != len(want) {
		t.Fatalf("parseFlagHelp = %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("flag %s = %+v, want %+v", k, got[k], w)
		}
	}
	kinds, err := parseEnvKinds("func DefaultConfig() {\n\tA: env(\"REINS_A\", \"\"),\n\tB: envInt(\"REINS_B\", 1, &errs),\n\tC: envDuration(\"REINS_C\", time.Second, &errs),\n}\n\nfunc other() { env(\"REINS_NOT\", \"\") }\n")
	if err != nil {
		t.Fatal(err)
	}
	if w := map[string]string{"REINS_A": "string", "REINS_B": "int", "REINS_C": "duration"}; !mapsEqual(kinds, w) {
		t.Errorf("parseEnvKinds = %v, want %v", kinds, w)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestProbeContract checks what the compose health checks rely on: `reins probe URL` exits
// 0 when URL answers HTTP 200, and 1 on any other status or no answer.
func TestProbeContract(t *testing.T) {
	t.Parallel()
	b := reinsBinary(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, tc := range []struct {
		url  string
		code int
	}{
		{srv.URL + "/readyz", 0},
		{srv.URL + "/unready", 1},
		{closedURL + "/readyz", 1},
	} {
		cmd := exec.Command(b.path, probeCommand, tc.url)
		cmd.Env = envWithoutReins()
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code {
			t.Errorf("reins %s %s: exit %d, want %d\n%s", probeCommand, tc.url, code, tc.code, out)
		}
	}
}
