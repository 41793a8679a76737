-- Second database of the local stack, used by the test suite. The image creates pulse_ingest itself.
CREATE DATABASE pulse_ingest_test OWNER pulse_ingest;
