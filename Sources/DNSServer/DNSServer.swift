/// DNSServer module (see shared/DESIGN.md §4).
public enum DNSServerModule {}
