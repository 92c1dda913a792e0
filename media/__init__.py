"""aiortc media: answering offers, inbound RTP taps, per-room sessions on the 20 ms clock, sends."""
