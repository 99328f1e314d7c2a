package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Secrets reads the passwords a command needs, the way every command
// does: from an environment variable when it is set, else asked on the
// terminal, else one line of standard input each, in order (a script
// pipes them in).
type Secrets struct {
	In     *os.File
	Prompt io.Writer // where terminal prompts go (stderr)
	Getenv func(string) string
	lines  *bufio.Reader
}

// NewSecrets reads from os.Stdin and the process's environment, and
// prompts on prompt.
func NewSecrets(prompt io.Writer) *Secrets {
	return &Secrets{In: os.Stdin, Prompt: prompt, Getenv: os.Getenv}
}

// Get returns the secret named what ("current password"): $env when set,
// else asked on the terminal (twice, to catch a typo, when confirm), else
// the next line of s.In. An empty secret is refused, saying where it can
// be given.
func (s *Secrets) Get(env, what string, confirm bool) (string, error) {
	if v := s.Getenv(env); v != "" {
		return v, nil
	}
	if fd := int(s.In.Fd()); term.IsTerminal(fd) {
		v, err := s.ask(fd, what)
		if err != nil {
			return "", err
		}
		if confirm {
			again, err := s.ask(fd, what+" again")
			if err != nil {
				return "", err
			}
			if again != v {
				return "", fmt.Errorf("the two %ss differ", what)
			}
		}
		if v == "" {
			return "", fmt.Errorf("no %s given (type it, or set %s)", what, env)
		}
		return v, nil
	}
	if s.lines == nil {
		s.lines = bufio.NewReader(s.In)
	}
	line, err := s.lines.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the %s from stdin: %w", what, err)
	}
	v := strings.TrimRight(line, "\r\n")
	if v == "" {
		return "", fmt.Errorf("no %s: set %s or give it as a line on stdin", what, env)
	}
	return v, nil
}

func (s *Secrets) ask(fd int, what string) (string, error) {
	fmt.Fprintf(s.Prompt, "%s: ", strings.ToUpper(what[:1])+what[1:])
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(s.Prompt)
	if err != nil {
		return "", fmt.Errorf("read the %s: %w", what, err)
	}
	return string(b), nil
}
