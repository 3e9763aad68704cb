"""Training many models through one compiled step (:mod:`.train`), spread over devices (:mod:`.sharding`)."""
