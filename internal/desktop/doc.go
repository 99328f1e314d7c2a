// Package desktop runs and drives the session's X display: it starts Xvfb
// and the window manager that keeps the app's window maximized to the
// screen, captures the screen when it changes, and injects the viewer's
// input through XTest.
package desktop
