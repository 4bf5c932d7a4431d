//! The little HTTP/1.x this program speaks: a pure request parser ([`request`]), shared
//! by the metrics responder and anything else that must recognise an HTTP request.
//! No sockets here.

pub mod request;
