"""The ground floor: settings, database and ORM, enums, object storage, queue, time, security, rate
limits, the message catalogue, outbound HTTP guard, heartbeats. Imports nothing of the project above it."""
