"""Local Apache Cassandra nodes from Maven Central jars, and the store benchmark."""
