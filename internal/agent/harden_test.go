package agent

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The test binary plays both processes: the agent (holding a secret, made
// non-dumpable or not) and the app (another process of the same uid that
// tries to read the agent's memory and environment).
const (
	roleEnv   = "AIRLOCK_HARDEN_TEST_ROLE"
	secretEnv = "AIRLOCK_HARDEN_TEST_SECRET"
)

// hardenHelper plays a role when the test binary was started as one.
func hardenHelper() (code int, played bool) {
	switch os.Getenv(roleEnv) {
	case "agent", "agent-dumpable":
		if os.Getenv(roleEnv) == "agent" {
			if err := Harden(); err != nil {
				fmt.Println("harden:", err)
				return 1, true
			}
		}
		fmt.Println("ready")
		// Hold the secret until the test closes stdin.
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		return 0, true
	case "app":
		pid := os.Args[len(os.Args)-1]
		for _, f := range []string{"environ", "mem", "fd"} {
			fmt.Printf("%s %v\n", f, readProc("/proc/"+pid+"/"+f))
		}
		return 0, true
	}
	return 0, false
}

// readProc reads a /proc file of another process as an attacker would;
// for mem, at an address the process surely maps (its stack).
func readProc(path string) error {
	if strings.HasSuffix(path, "/fd") {
		_, err := os.ReadDir(path)
		return err
	}
	if strings.HasSuffix(path, "/mem") {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		maps, err := os.ReadFile(strings.TrimSuffix(path, "mem") + "maps")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(maps), "\n") {
			if strings.HasSuffix(line, "[stack]") {
				start, err := strconv.ParseUint(strings.Split(line, "-")[0], 16, 64)
				if err != nil {
					return err
				}
				_, err = f.ReadAt(make([]byte, 64), int64(start))
				return err
			}
		}
		return errors.New("no stack in maps")
	}
	_, err := os.ReadFile(path)
	return err
}

// sameUID runs both processes as an unprivileged uid: as root (CI), the
// app would have CAP_SYS_PTRACE and read anything.
func sameUID(cmd *exec.Cmd) {
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
}

func TestAppCannotReadAgentMemory(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// The unprivileged uid must be able to run the test binary.
		dir, err := os.MkdirTemp("", "airlock-harden")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		data, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		exe = filepath.Join(dir, "agent.test")
		if err := os.WriteFile(exe, data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		role     string
		readable bool
	}{
		// Without Harden the same check succeeds: the test can fail.
		{"agent-dumpable", true},
		{"agent", false},
	} {
		t.Run(tc.role, func(t *testing.T) {
			agent := exec.Command(exe, "-test.run=^$")
			agent.Env = append(os.Environ(), roleEnv+"="+tc.role, secretEnv+"=alc_secret_credential")
			sameUID(agent)
			stdin, err := agent.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := agent.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := agent.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { stdin.Close(); _ = agent.Wait() }()
			if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
				t.Fatalf("agent: %q %v", line, err)
			}
			app := exec.Command(exe, "-test.run=^$", strconv.Itoa(agent.Process.Pid))
			app.Env = append(os.Environ(), roleEnv+"=app")
			sameUID(app)
			res, err := app.CombinedOutput()
			if err != nil {
				t.Fatalf("app: %v: %s", err, res)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(res)), "\n") {
				f, verdict, _ := strings.Cut(line, " ")
				if read := verdict == "<nil>"; read != tc.readable {
					t.Errorf("app reading the agent's %s: %s (readable %v, want %v)", f, verdict, read, tc.readable)
				}
			}
		})
	}
}
