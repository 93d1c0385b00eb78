-- The orderflow databases; the services migrate their own schemas.
CREATE DATABASE orderflow_events;
CREATE DATABASE orderflow_read;
CREATE DATABASE orderflow_fulfilment;
