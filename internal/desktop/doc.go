// Package desktop runs and drives the session's X display: it starts Xvfb
// and the app, captures the screen when it changes, and injects the
// viewer's input through XTest.
package desktop
