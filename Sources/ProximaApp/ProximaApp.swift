/// ProximaApp module (see shared/DESIGN.md §4).
public enum ProximaAppModule {}
