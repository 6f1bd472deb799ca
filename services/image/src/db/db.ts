// The SQL helper every service uses lives in service-kit; repositories import it from here.
export { Db, type Sql } from '@kumo/service-kit';
