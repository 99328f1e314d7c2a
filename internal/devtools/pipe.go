package devtools

import (
	"fmt"
	"os"
)

// Pipes are the two pipes of --remote-debugging-pipe. Pass ExtraFiles as
// the command's ExtraFiles (they become Chromium's fds 3 and 4), call
// Started once it runs, and talk over Conn.
type Pipes struct {
	toChromium, fromChromium *os.File // ours
	chromiumIn, chromiumOut  *os.File // Chromium's fd 3 and 4
}

// NewPipes makes the pipes.
func NewPipes() (*Pipes, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("devtools pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = inR.Close()
		_ = inW.Close()
		return nil, fmt.Errorf("devtools pipe: %w", err)
	}
	return &Pipes{toChromium: inW, fromChromium: outR, chromiumIn: inR, chromiumOut: outW}, nil
}

// ExtraFiles are Chromium's ends, in fd order 3, 4.
func (p *Pipes) ExtraFiles() []*os.File { return []*os.File{p.chromiumIn, p.chromiumOut} }

// Started closes this process's copies of Chromium's ends, so that
// Chromium exiting ends the connection (EOF) instead of leaving it open.
func (p *Pipes) Started() {
	_ = p.chromiumIn.Close()
	_ = p.chromiumOut.Close()
}

// Conn is a connection over the pipes.
func (p *Pipes) Conn() *Conn { return New(p.fromChromium, p.toChromium) }

// Close closes every end.
func (p *Pipes) Close() {
	for _, f := range []*os.File{p.toChromium, p.fromChromium, p.chromiumIn, p.chromiumOut} {
		_ = f.Close()
	}
}
