-- SIP over TLS is a transport a room account may register over: rooms
-- that were allowed TCP are allowed TLS (its secure form) too.
UPDATE rooms SET transports = transports || ',tls'
 WHERE (',' || transports || ',') LIKE '%,tcp,%'
   AND (',' || transports || ',') NOT LIKE '%,tls,%';
