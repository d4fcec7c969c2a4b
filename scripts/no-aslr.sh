#!/usr/bin/env bash
# no-aslr.sh - run a command with address-space randomisation off when the kernel allows it
# (ThreadSanitizer's fixed shadow layout can clash with high-entropy mmap randomisation).
if setarch "$(uname -m)" -R true 2>/dev/null; then
  exec setarch "$(uname -m)" -R "$@"
fi
exec "$@"
