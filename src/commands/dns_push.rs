//! `mailctl dns push`: placeholder until the RFC 2136 client lands.
