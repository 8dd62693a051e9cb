;; A validator whose allocator traps: the host lowers the call's context into the
;; plugin's memory through `cabi_realloc`, which hits `unreachable` before `validate`
;; runs and before the plugin could print anything. The failure must say where.
(component
  (type $check (record
    (field "name" string) (field "passed" bool) (field "expected" string)
    (field "actual" string) (field "message" string)))
  (export $check-t "check" (type $check))
  (type $result (record (field "checks" (list $check-t))))
  (export $result-t "validation-result" (type $result))
  (type $host-error (variant
    (case "denied" string) (case "unavailable" string)
    (case "invalid" string) (case "timeout" string)))
  (export $host-error-t "host-error" (type $host-error))
  (type $plugin-error (variant
    (case "config" string) (case "host" $host-error-t) (case "internal" string)))
  (export $plugin-error-t "plugin-error" (type $plugin-error))
  (type $context (record
    (field "run-id" string) (field "scenario" string)
    (field "request-ids" (list string)) (field "config" string)))
  (export $context-t "run-context" (type $context))

  (core module $main
    (memory (export "memory") 1)
    (func $cabi_realloc (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      unreachable)
    (func (export "validate") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      (i32.const 0)))
  (core instance $m (instantiate $main))
  (func $validate (param "ctx" $context-t) (result (result $result-t (error $plugin-error-t)))
    (canon lift (core func $m "validate") (memory (core memory $m "memory"))
      (realloc (core func $m "cabi_realloc"))))
  (export "validate" (func $validate)))
