// Package stream is the agent's side of a viewing session: it answers the
// viewer's WebRTC offer, sends the screen as a video track encoded only
// when the screen changed, keeps the encoder's bitrate within what
// congestion control (TWCC, with NACK for losses) says the path carries,
// gives a keyframe when the viewer asks (PLI/FIR) or joins, and turns the
// viewer's data channel messages into input, clipboard and resizes.
//
// The protocol is docs/viewer-protocol.md. The screen, the encoder and the
// input are interfaces, so this package holds no X or codec code; the
// agent wires internal/desktop and internal/encoder in.
package stream
