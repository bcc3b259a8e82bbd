-- Each service owns its tables in its own database (docs/design.md, "Shape").
CREATE DATABASE planb_ingest OWNER planb;
CREATE DATABASE planb_router OWNER planb;
CREATE DATABASE planb_publisher OWNER planb;
