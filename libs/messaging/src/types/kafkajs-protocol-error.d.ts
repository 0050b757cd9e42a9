// kafkajs's table of the Kafka protocol's errors, which its typings leave out.
declare module 'kafkajs/src/protocol/error' {
  export const errorCodes: { type: string; code: number; retriable: boolean; message: string }[];
}
