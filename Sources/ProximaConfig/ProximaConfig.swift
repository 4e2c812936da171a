/// ProximaConfig module (see shared/DESIGN.md §4).
public enum ProximaConfigModule {}
